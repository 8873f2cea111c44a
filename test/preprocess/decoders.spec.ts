import { decodeImage } from '../../src/preprocess/decode';
import { decodeBmp } from '../../src/preprocess/decoders/bmp';
import { decodePnm, isPnm } from '../../src/preprocess/decoders/pnm';
import { PreprocessError } from '../../src/preprocess/errors';

/** A BMP file with a BITMAPINFOHEADER (40 bytes) around the given palette and pixel rows. */
function bmp(opts: {
  width: number;
  height: number;
  bpp: number;
  compression?: number;
  palette?: number[][];
  masks?: number[];
  rows: number[][];
}): Buffer {
  const pitch = (((opts.width * opts.bpp + 7) >> 3) + 3) & ~3;
  const palette = Buffer.concat((opts.palette ?? []).map((c) => Buffer.from([...c, 0])));
  const masks = Buffer.alloc((opts.masks ?? []).length * 4);
  (opts.masks ?? []).forEach((m, i) => masks.writeUInt32LE(m, i * 4));
  const pixels = Buffer.concat(
    opts.rows.map((r) => {
      const row = Buffer.alloc(pitch);
      Buffer.from(r).copy(row);
      return row;
    }),
  );
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  const offset = 54 + masks.length + palette.length;
  header.writeUInt32LE(offset + pixels.length, 2);
  header.writeUInt32LE(offset, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(opts.width, 18);
  header.writeInt32LE(opts.height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(opts.bpp, 28);
  header.writeUInt32LE(opts.compression ?? 0, 30);
  header.writeUInt32LE((opts.palette ?? []).length, 46);
  return Buffer.concat([header, masks, palette, pixels]);
}

const px = (img: { data: Buffer }): number[] => [...img.data];

describe('BMP decoder (OpenCV 4.6 grfmt_bmp.cpp behaviour)', () => {
  it('reads 24-bit bottom-up rows with row padding', () => {
    // 3x2: 9 bytes per row padded to 12. The first stored row is the bottom one.
    const file = bmp({
      width: 3,
      height: 2,
      bpp: 24,
      rows: [
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        [11, 12, 13, 14, 15, 16, 17, 18, 19],
      ],
    });
    const img = decodeBmp(file);
    expect([img.width, img.height]).toEqual([3, 2]);
    expect(px(img)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('reads top-down rows when the height is negative', () => {
    const file = bmp({
      width: 1,
      height: -2,
      bpp: 24,
      rows: [
        [1, 2, 3],
        [4, 5, 6],
      ],
    });
    expect(px(decodeBmp(file))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('drops the alpha byte of 32-bit pixels, also with BI_BITFIELDS (masks ignored as OpenCV does)', () => {
    const rows = [[1, 2, 3, 200, 4, 5, 6, 0]];
    expect(px(decodeBmp(bmp({ width: 2, height: 1, bpp: 32, rows })))).toEqual([1, 2, 3, 4, 5, 6]);
    const masks = [0xff, 0xff00, 0xff0000];
    expect(px(decodeBmp(bmp({ width: 2, height: 1, bpp: 32, compression: 3, masks, rows })))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('looks up 8-, 4- and 1-bit palettes, most significant bits first', () => {
    const palette = [
      [10, 20, 30],
      [40, 50, 60],
      [70, 80, 90],
    ];
    expect(px(decodeBmp(bmp({ width: 3, height: 1, bpp: 8, palette, rows: [[2, 0, 1]] })))).toEqual([70, 80, 90, 10, 20, 30, 40, 50, 60]);
    expect(px(decodeBmp(bmp({ width: 3, height: 1, bpp: 4, palette, rows: [[0x21, 0x00]] })))).toEqual([
      70, 80, 90, 40, 50, 60, 10, 20, 30,
    ]);
    expect(px(decodeBmp(bmp({ width: 3, height: 1, bpp: 1, palette: palette.slice(0, 2), rows: [[0b10100000]] })))).toEqual([
      40, 50, 60, 10, 20, 30, 40, 50, 60,
    ]);
  });

  it('expands 5-6-5 and 5-5-5 pixels by shifting (low bits zero)', () => {
    // 0xffff in 5-6-5: B = 0xff << 3 & 0xff = 0xf8, G = (t >> 3) & 0xfc = 0xfc, R = (t >> 8) & 0xf8 = 0xf8.
    const rows = [[0xff, 0xff]];
    expect(px(decodeBmp(bmp({ width: 1, height: 1, bpp: 16, compression: 3, masks: [0xf800, 0x7e0, 0x1f], rows })))).toEqual([
      0xf8, 0xfc, 0xf8,
    ]);
    // BI_RGB 16-bit is 5-5-5: 0x7fff -> 0xf8 each.
    expect(px(decodeBmp(bmp({ width: 1, height: 1, bpp: 16, rows: [[0xff, 0x7f]] })))).toEqual([0xf8, 0xf8, 0xf8]);
  });

  it('fails on truncated pixel data and refuses RLE as unsupported', () => {
    const file = bmp({
      width: 3,
      height: 2,
      bpp: 24,
      rows: [
        [1, 2, 3],
        [4, 5, 6],
      ],
    });
    expect(() => decodeBmp(file.subarray(0, file.length - 1))).toThrow(expect.objectContaining({ code: 'DECODE_FAILED' }));
    const rle = bmp({ width: 2, height: 1, bpp: 8, compression: 1, palette: [[0, 0, 0]], rows: [[2, 0, 0, 1]] });
    expect(() => decodeBmp(rle)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_FORMAT' }));
  });
});

describe('PNM decoder (OpenCV 4.6 grfmt_pxm.cpp behaviour)', () => {
  const pnm = (header: string, body: number[] | string = []): Buffer =>
    Buffer.concat([Buffer.from(header, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : Buffer.from(body)]);

  it('recognises P1-P6 followed by whitespace only', () => {
    expect(isPnm(Buffer.from('P6\n'))).toBe(true);
    expect(isPnm(Buffer.from('P7\n'))).toBe(false);
    expect(isPnm(Buffer.from('P6x'))).toBe(false);
  });

  it('reads P6 as R,G,B swapped to B,G,R, skipping comments in the header', () => {
    const img = decodePnm(pnm('P6 # a comment\n2 # width\n1\n255\n', [1, 2, 3, 4, 5, 6]));
    expect([img.width, img.height]).toEqual([2, 1]);
    expect(px(img)).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it('uses binary 8-bit samples as they are, without scaling to maxval', () => {
    expect(px(decodePnm(pnm('P5 2 1 100\n', [50, 100])))).toEqual([50, 50, 50, 100, 100, 100]);
  });

  it('scales ASCII samples by i * 255 / maxval (integer division), clamped to maxval', () => {
    // maxval 15: 7 -> 119, 15 -> 255, 99 -> clamped to 15 -> 255.
    expect(px(decodePnm(pnm('P2\n3 1\n15\n', '7 15 99\n')))).toEqual([119, 119, 119, 255, 255, 255, 255, 255, 255]);
    expect(px(decodePnm(pnm('P3\n1 1\n255\n', '1 2 3')))).toEqual([3, 2, 1]);
  });

  it('keeps the high byte of 16-bit samples (big-endian), not a rescale', () => {
    expect(px(decodePnm(pnm('P5 2 1 65535\n', [0x12, 0x34, 0xff, 0x01])))).toEqual([0x12, 0x12, 0x12, 0xff, 0xff, 0xff]);
    // maxval 1000 is still 16-bit: 1000 = 0x03e8 -> 3.
    expect(px(decodePnm(pnm('P2 1 1 1000\n', '1000\n')))).toEqual([3, 3, 3]);
  });

  it('reads bitmaps with 1 as black: P1 digits (separators optional) and P4 packed bits', () => {
    expect(px(decodePnm(pnm('P1\n3 1\n', '101\n')))).toEqual([0, 0, 0, 255, 255, 255, 0, 0, 0]);
    // P4 rows are padded to a byte: 3 pixels per row in one byte each.
    expect(px(decodePnm(pnm('P4\n3 2\n', [0b01000000, 0b10100000])))).toEqual([
      255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0,
    ]);
  });

  it('fails on truncated data and on bad headers', () => {
    const fail = expect.objectContaining({ code: 'DECODE_FAILED' });
    expect(() => decodePnm(pnm('P6 2 1 255\n', [1, 2, 3]))).toThrow(fail);
    expect(() => decodePnm(pnm('P5 2 1 70000\n', [1, 2]))).toThrow(fail);
    expect(() => decodePnm(pnm('P5 0 1 255\n', []))).toThrow(fail);
    expect(() => decodePnm(pnm('P5 x 1 255\n', []))).toThrow(fail);
  });
});

describe('decodeImage on BMP and PNM', () => {
  it('routes them to the own decoders and checks the declared size first', async () => {
    const img = await decodeImage(Buffer.from('P5 1 1 255\n\x07', 'latin1'));
    expect([img.width, img.height, ...img.data]).toEqual([1, 1, 7, 7, 7]);
    // A header declaring 100000 x 100000 with no data: refused from the header alone.
    await expect(decodeImage(Buffer.from('P6\n100000 100000\n255\n'))).rejects.toMatchObject({ code: 'TOO_MANY_PIXELS' });
    const header = bmp({ width: 1, height: 1, bpp: 24, rows: [[1, 2, 3]] });
    header.writeInt32LE(60000, 18);
    header.writeInt32LE(-60000, 22);
    await expect(decodeImage(header)).rejects.toBeInstanceOf(PreprocessError);
    await expect(decodeImage(header)).rejects.toMatchObject({ code: 'TOO_MANY_PIXELS' });
  });
});
