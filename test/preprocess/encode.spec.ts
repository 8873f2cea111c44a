/**
 * brotliEncode: one output chunk per image (chunkSize) changes the CPU, not the bytes: the stream
 * equals a one-shot Brotli of the same pixels with the same parameters, and decodes back to them.
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';
import { brotliEncode } from '../../src/preprocess/encode';

const oneShot = (data: Buffer, quality: number): Buffer =>
  zlib.brotliCompressSync(data, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_GENERIC,
    },
  });

describe('brotliEncode', () => {
  const smooth = Buffer.alloc(RAW_IMAGE_BYTES);
  for (let i = 0; i < smooth.length; i++) smooth[i] = (i >> 6) & 0xff;

  it.each([
    ['smooth 448x448 pixels', smooth, 1],
    ['smooth pixels at quality 4', smooth, 4],
    ['noise (the output is larger than the input)', randomBytes(RAW_IMAGE_BYTES), 1],
    ['a few bytes', Buffer.from([1, 2, 3]), 1],
  ] as Array<[string, Buffer, number]>)('%s: the bytes of a one-shot Brotli, decoding back exactly', async (_name, data, quality) => {
    const encoded = await brotliEncode(data, quality);
    expect(encoded.equals(oneShot(data, quality))).toBe(true);
    expect(zlib.brotliDecompressSync(encoded).equals(data)).toBe(true);
  });
});
