/**
 * The compact lossless wire (`encoding: 'png'`): the prepared pixels as a PNG that decodes back
 * to exactly those pixels, in our OpenCV-exact decoder, in libvips, and in the in-process server
 * (which then classifies them exactly as the raw pixels).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';
import { decodeImage } from '../../src/preprocess/decode';
import { crc32Js, encodePngBgr, filterRowsJs } from '../../src/preprocess/pngEncode';
import { pngFilterWasm, resizeBackend } from '../../src/preprocess/resizeWasm';
import { prepareImage } from '../../src/preprocess/prepare';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';

const images = path.join(__dirname, '../fixtures/preprocess/images');
const PHOTOS = ['chelsea-2000x1500.jpg', 'camera-gray8.png', 'retina-rgba.png', 'rocket-lossy.webp'];

/** Pixels with structure (gradients, edges, noise), so that every Paeth branch is taken. */
function synthetic(width: number, height: number): Buffer {
  const out = Buffer.allocUnsafe(width * height * 3);
  const noise = randomBytes(out.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = (x * 7 + (y > height / 2 ? 200 : 0)) & 0xff;
      out[i + 1] = (y * 5) & 0xff;
      out[i + 2] = (noise[i] as number) & (x % 16 < 8 ? 0xff : 0x0f);
    }
  }
  return out;
}

describe('encodePngBgr', () => {
  it.each([
    ['448x448 structured', 448, 448],
    ['1x1', 1, 1],
    ['3x5 (rows shorter than a pixel neighbourhood)', 3, 5],
    ['17x2', 17, 2],
  ])('%s: our decoder and libvips give back exactly the B,G,R pixels', async (_name, width, height) => {
    const bgr = synthetic(width, height);
    const png = await encodePngBgr(bgr, width, height);
    const ours = await decodeImage(png);
    expect([ours.width, ours.height]).toEqual([width, height]);
    expect(Buffer.from(ours.data).equals(bgr)).toBe(true);
    const rgb = await sharp(png).raw().toBuffer();
    for (let i = 0; i < rgb.length; i += 3) [rgb[i], rgb[i + 2]] = [rgb[i + 2] as number, rgb[i] as number];
    expect(rgb.equals(bgr)).toBe(true);
  });

  it('random noise too (every residual value)', async () => {
    const bgr = randomBytes(64 * 64 * 3);
    const decoded = await decodeImage(await encodePngBgr(bgr, 64, 64));
    expect(Buffer.from(decoded.data).equals(bgr)).toBe(true);
  });

  it('writes no colour chunk a decoder could colour-manage by: IHDR, IDAT, IEND only', async () => {
    const png = await encodePngBgr(synthetic(8, 8), 8, 8);
    const types: string[] = [];
    for (let at = 8; at < png.length;) {
      const length = png.readUInt32BE(at);
      types.push(png.toString('latin1', at + 4, at + 8));
      at += 12 + length;
    }
    expect(types).toEqual(['IHDR', 'IDAT', 'IEND']);
  });

  it('refuses pixels that are not width x height x 3', async () => {
    await expect(encodePngBgr(Buffer.alloc(10), 2, 2)).rejects.toThrow(RangeError);
  });

  it('the JavaScript CRC-32 (for Node before 20.15) equals zlib.crc32', () => {
    const data = randomBytes(1000);
    const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    expect(crc32Js(Buffer.from('IEND'))).toBe(0xae426082); // the CRC every PNG's IEND carries
    if (native) expect(crc32Js(data)).toBe(native(data));
  });
});

describe('the WebAssembly Paeth filter against the JavaScript one', () => {
  it('loads (the PNG wire runs on it)', () => {
    expect(resizeBackend().backend).toBe('wasm');
  });

  it.each([
    [448, 448],
    [1, 1],
    [2, 3],
    [5, 1],
    [6, 4], // rows of 18 bytes: one full step and a partial one
    [17, 9],
    [100, 37],
  ])('%dx%d: the same filtered bytes, on structured pixels, noise and extremes', (width, height) => {
    for (const bgr of [
      synthetic(width, height),
      randomBytes(width * height * 3),
      Buffer.alloc(width * height * 3, 255),
      Buffer.alloc(width * height * 3, 0),
    ]) {
      const wasm = pngFilterWasm(bgr, width, height);
      expect(wasm).toBeDefined();
      expect((wasm as Buffer).equals(filterRowsJs(bgr, width, height))).toBe(true);
    }
  });

  it('every Paeth branch on every byte value: a, b or c chosen, ties included', () => {
    // Rows built so that left, up and up-left take all orders and equalities.
    const width = 256;
    const height = 4;
    const bgr = Buffer.alloc(width * height * 3);
    for (let i = 0; i < bgr.length; i++) bgr[i] = (i * 37 + (i >> 7) * 11) & 0xff;
    expect((pngFilterWasm(bgr, width, height) as Buffer).equals(filterRowsJs(bgr, width, height))).toBe(true);
  });
});

describe("prepareImage({ encoding: 'png' })", () => {
  it.each(PHOTOS)('%s: a PNG smaller than the raw pixels, decoding to exactly them', async (name) => {
    const source = fs.readFileSync(path.join(images, name));
    const raw = await prepareImage(source, { hashes: [] });
    const png = await prepareImage(source, { hashes: [], encoding: 'png' });
    expect(png.format).toBe('IMAGE_FORMAT_PNG');
    expect(png.encoding).toBe('REQUEST_ENCODING_UNCOMPRESSED');
    expect(png.sizes.wire).toBeLessThan(RAW_IMAGE_BYTES);
    expect(png.sizes.prepared).toBe(RAW_IMAGE_BYTES);
    const decoded = await decodeImage(png.data);
    expect(Buffer.from(decoded.data).equals(raw.data)).toBe(true);
  });

  it('sends the raw pixels when the PNG would not be smaller (noise)', async () => {
    const bgr = randomBytes(RAW_IMAGE_BYTES);
    const prepared = await prepareImage({ bgr }, { hashes: [], encoding: 'png' });
    expect(prepared.format).toBe('IMAGE_FORMAT_RAW_UINT8_BGR');
    expect(prepared.data.equals(bgr)).toBe(true);
  });
});

describe('the in-process server classifies a PNG wire image as its raw pixels', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it.each(PHOTOS)('%s: the same weights for PNG and raw (the benign classifier digests every pixel byte)', async (name) => {
    const client = createAthenaClient({ address: server.address, credentials: insecure(), affiliate: 'png-test' });
    try {
      const source = fs.readFileSync(path.join(images, name));
      const send = async (encoding: 'uncompressed' | 'png', id: string) => {
        const p = await prepareImage(source, { hashes: [], encoding });
        return client.classifySingle({ correlationId: id, data: p.data, format: p.format, encoding: p.encoding });
      };
      const raw = await send('uncompressed', `raw-${name}`);
      const png = await send('png', `png-${name}`);
      expect(raw.error).toBeNull();
      expect(png.error).toBeNull();
      expect(png.classifications.length).toBeGreaterThan(0);
      expect(png.classifications).toEqual(raw.classifications);
    } finally {
      client.close();
    }
  });
});
