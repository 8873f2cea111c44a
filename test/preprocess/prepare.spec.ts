import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { brotliDecompressSync } from 'node:zlib';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';
import { PreprocessError } from '../../src/preprocess/errors';
import { wireHashes } from '../../src/preprocess/hashes';
import { prepareImage } from '../../src/preprocess/prepare';
import { fixtureCases, fixturePath, image } from './fixtures';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

async function rejection(promise: Promise<unknown>): Promise<PreprocessError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(PreprocessError);
    return err as PreprocessError;
  }
  throw new Error('expected a PreprocessError');
}

describe('prepareImage', () => {
  const rocket = fixtureCases().find((c) => c.file === 'images/rocket-original.jpg')!;
  const rocketBytes = readFileSync(fixturePath(rocket.file));

  it('prepares a file path: golden pixels, MD5 and SHA1 of the file, sizes, timings, the path as ref', async () => {
    const path = fixturePath(rocket.file);
    const p = await prepareImage(path);
    expect(p.kind).toBe('prepared');
    expect(p.format).toBe('IMAGE_FORMAT_RAW_UINT8_BGR');
    expect(p.encoding).toBe('REQUEST_ENCODING_UNCOMPRESSED');
    expect(p.sourceFormat).toBe('IMAGE_FORMAT_JPEG');
    expect(md5(p.data)).toBe(rocket.md5_bgr);
    expect(p.hashes).toEqual([
      { type: 'HASH_TYPE_MD5', value: rocket.md5_original },
      { type: 'HASH_TYPE_SHA1', value: rocket.sha1_original },
    ]);
    expect(p.pixelHashes).toEqual([]);
    expect(p.passedThrough).toBe(false);
    expect(p.sizes).toEqual({
      original: rocketBytes.length,
      decoded: { width: 640, height: 427 },
      prepared: RAW_IMAGE_BYTES,
      wire: RAW_IMAGE_BYTES,
    });
    for (const ms of Object.values(p.timings)) expect(ms).toBeGreaterThanOrEqual(0);
    expect(p.timings.totalMs).toBeGreaterThanOrEqual(p.timings.decodeMs + p.timings.resizeMs);
    expect(p.ref).toBe(path);
    expect(p.correlationId.length).toBeLessThanOrEqual(64);
    expect(p).not.toHaveProperty('affiliate');
  });

  it.each([
    ['a Buffer', () => rocketBytes],
    ['a Uint8Array view', () => new Uint8Array(rocketBytes.buffer, rocketBytes.byteOffset, rocketBytes.byteLength)],
    ['a Readable', () => createReadStream(fixturePath(rocket.file), { highWaterMark: 4096 })],
    ['a Readable from chunks', () => Readable.from([rocketBytes.subarray(0, 100), rocketBytes.subarray(100)])],
  ])('prepares %s to the same pixels, with no ref', async (_, make) => {
    const p = await prepareImage(make());
    expect(md5(p.data)).toBe(rocket.md5_bgr);
    expect(p.hashes[0]!.value).toBe(rocket.md5_original);
    expect(p.ref).toBeUndefined();
  });

  it('sends { bgr } pixels as they are, hashing them, without decoding', async () => {
    const pixels = Buffer.alloc(RAW_IMAGE_BYTES, 7);
    const p = await prepareImage({ bgr: pixels });
    expect(p.data).toBe(pixels);
    expect(p.sourceFormat).toBe('IMAGE_FORMAT_RAW_UINT8_BGR');
    expect(p.sizes).toEqual({ original: RAW_IMAGE_BYTES, prepared: RAW_IMAGE_BYTES, wire: RAW_IMAGE_BYTES });
    expect(p.timings.decodeMs).toBe(0);
    expect(p.hashes[0]!.value).toBe(md5(pixels));
  });

  it('refuses { bgr } of any other length, never guessing', async () => {
    const err = await rejection(prepareImage({ bgr: Buffer.alloc(RAW_IMAGE_BYTES - 1) }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/exactly 602112 bytes.*got 602111/);
  });

  it('does not take 602112 unmarked bytes for pixels', async () => {
    const err = await rejection(prepareImage(Buffer.alloc(RAW_IMAGE_BYTES, 1)));
    expect(err.code).toBe('UNSUPPORTED_FORMAT');
  });

  it('keeps the ImageInput ref, id and affiliate; the options give a default affiliate', async () => {
    const p = await prepareImage(
      { source: rocketBytes, ref: { row: 3 }, correlationId: 'mine-1', affiliate: 'acme' },
      { affiliate: 'other' },
    );
    expect(p.ref).toEqual({ row: 3 });
    expect(p.correlationId).toBe('mine-1');
    expect(p.affiliate).toBe('acme');
    expect((await prepareImage(rocketBytes, { affiliate: 'other' })).affiliate).toBe('other');
  });

  it('hashes with the algorithms asked for, and the prepared pixels on the side', async () => {
    const p = await prepareImage(rocketBytes, { hashes: ['sha1'], pixelHashes: ['md5', 'sha256'] });
    expect(p.hashes).toEqual([{ type: 'HASH_TYPE_SHA1', value: rocket.sha1_original }]);
    expect(p.pixelHashes).toEqual([
      { algorithm: 'md5', value: rocket.md5_bgr },
      { algorithm: 'sha256', value: createHash('sha256').update(p.data).digest('hex') },
    ]);
    expect((await prepareImage(rocketBytes, { hashes: [] })).hashes).toEqual([]);
  });

  it('Brotli-compresses the pixels when asked, losslessly', async () => {
    const p = await prepareImage(rocketBytes, { encoding: 'brotli', brotliQuality: 3 });
    expect(p.encoding).toBe('REQUEST_ENCODING_BROTLI');
    expect(p.format).toBe('IMAGE_FORMAT_RAW_UINT8_BGR');
    expect(md5(brotliDecompressSync(p.data))).toBe(rocket.md5_bgr);
    expect(p.sizes.wire).toBe(p.data.length);
    expect(p.sizes.wire).toBeLessThan(p.sizes.prepared);
    expect(p.timings.compressMs).toBeGreaterThan(0);
  });

  it('sends pixels uncompressed when Brotli would not make them smaller', async () => {
    const noise = randomBytes(RAW_IMAGE_BYTES); // incompressible
    const p = await prepareImage({ bgr: noise }, { encoding: 'brotli', brotliQuality: 1 });
    expect(p.encoding).toBe('REQUEST_ENCODING_UNCOMPRESSED');
    expect(p.data).toBe(noise);
  });

  it('refuses options that are wrong for every image with a RangeError, before reading', async () => {
    await expect(prepareImage(rocketBytes, { encoding: 'brotli', brotliQuality: 12 })).rejects.toThrow(
      /brotliQuality must be an integer from 0 to 11/,
    );
    await expect(prepareImage(rocketBytes, { maxPixels: 0 })).rejects.toThrow(RangeError);
    await expect(prepareImage(rocketBytes, { hashes: ['sha256' as 'md5'] })).rejects.toThrow(/cannot go on the wire/);
  });

  describe('passThrough', () => {
    // The golden outputs are 448x448 PNGs: exactly the kind of file pass-through sends as is.
    const golden = readFileSync(fixturePath(rocket.expected!));

    it('sends a lossless 448x448 image smaller than the raw pixels as it is', async () => {
      const p = await prepareImage(golden, { passThrough: true, pixelHashes: ['md5'] });
      expect(p.passedThrough).toBe(true);
      expect(p.format).toBe('IMAGE_FORMAT_PNG');
      expect(p.encoding).toBe('REQUEST_ENCODING_UNCOMPRESSED');
      expect(p.data).toBe(golden);
      expect(p.sizes).toMatchObject({ original: golden.length, prepared: golden.length, wire: golden.length });
      // The pixels the server decodes from it are the ones we would have sent.
      expect(p.pixelHashes[0]!.value).toBe(rocket.md5_bgr);
    });

    it('is off by default, and never applies Brotli to a passed-through file', async () => {
      expect((await prepareImage(golden)).passedThrough).toBe(false);
      const p = await prepareImage(golden, { passThrough: true, encoding: 'brotli' });
      expect([p.passedThrough, p.encoding]).toEqual([true, 'REQUEST_ENCODING_UNCOMPRESSED']);
    });

    it('does not pass through a 448x448 JPEG, whose pixels depend on the decoder', async () => {
      const p = await prepareImage(image('coffee-448x448.jpg'), { passThrough: true });
      expect([p.passedThrough, p.format]).toEqual([false, 'IMAGE_FORMAT_RAW_UINT8_BGR']);
    });

    it('does not pass through a PNG of another size', async () => {
      const p = await prepareImage(image('rocket-rgb8.png'), { passThrough: true });
      expect(p.passedThrough).toBe(false);
    });
  });

  it('uses the id factory for images without a caller id, and validates what it makes', async () => {
    const seen: number[] = [];
    const p = await prepareImage(rocketBytes, { correlationId: (content) => (seen.push(content.length), 'made-here') });
    expect([p.correlationId, seen]).toEqual(['made-here', [rocketBytes.length]]);
    const err = await rejection(prepareImage(rocketBytes, { correlationId: () => 'x'.repeat(65) }));
    expect(err.code).toBe('INVALID_CORRELATION_ID');
  });

  it('gives the same image prepared twice two ids', async () => {
    const [a, b] = await Promise.all([prepareImage(rocketBytes), prepareImage(rocketBytes)]);
    expect(a.correlationId).not.toBe(b.correlationId);
  });

  it('refuses a source over maxSourceBytes: a file before reading, a stream as soon as it passes', async () => {
    const file = await rejection(prepareImage(fixturePath(rocket.file), { maxSourceBytes: 1000 }));
    expect([file.code, file.details]).toEqual(['SOURCE_TOO_LARGE', `size=${rocketBytes.length} maxSourceBytes=1000`]);
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(1024));
      },
    });
    const stream = await rejection(prepareImage(endless, { maxSourceBytes: 10_000 }));
    expect(stream.code).toBe('SOURCE_TOO_LARGE');
    expect(endless.destroyed).toBe(true);
    expect(pulled).toBeLessThan(30);
  });

  it('hashes every corpus file as expected.json says (MD5 and SHA1 of the original bytes)', () => {
    // The pixels of the whole corpus are checked by the decode/resize suite; the hashes are ours.
    for (const c of fixtureCases()) {
      const hashes = wireHashes(readFileSync(fixturePath(c.file)), ['md5', 'sha1']);
      expect([c.file, hashes.map((h) => h.value)]).toEqual([c.file, [c.md5_original, c.sha1_original]]);
    }
  });
});
