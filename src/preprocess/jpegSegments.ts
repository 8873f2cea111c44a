/**
 * The header segments of a JPEG up to its first scan: the marker, where it starts and its length
 * field. Standalone markers (SOI, RSTn, TEM) and fill bytes are skipped; a malformed length ends
 * the walk.
 */
export function* jpegSegments(bytes: Buffer): Generator<{ marker: number; at: number; length: number }> {
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      p += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return; // start of scan or end of image: no more headers
    const length = bytes.readUInt16BE(p + 2);
    if (length < 2) return;
    yield { marker, at: p, length };
    p += 2 + length;
  }
}
