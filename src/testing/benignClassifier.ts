import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { IMAGE_SIDE, RAW_IMAGE_BYTES, type Classification } from '../contract/messages';
import { AthenaTestingError } from './errors';

/** The six benign category labels of contract section 4, in the order `benignClassify` returns them. */
export const BENIGN_LABELS = [
  'UnknownCSAM-Lakeside',
  'UnknownCSAM-Mountains',
  'UnknownCSAM-Trees',
  'UnknownCSAM-Seashore',
  'UnknownCSAM-Ducks',
  'UnknownCSAM-Goose',
] as const;

/** Uncertainty label: entropy (nats) of the category weights; may exceed 1.0 as the contract allows. */
export const ENTROPY_LABEL = 'UnknownCSAM-Entropy';
/**
 * Overall probability label. As in the real model it is a separate output, not the sum of the
 * category weights: here a deterministic value in [0, 1] that varies from image to image (see
 * {@link benignClassify}). Synthetic, like every benign weight: it says nothing about an image.
 */
export const PCSAM_LABEL = 'UnknownCSAM-PCSAM';

// Every 8th pixel in both directions: 56x56 samples keep the statistics cheap (every 4th, 112x112,
// cost the bench server about 0.34 ms of CPU per image, mostly waiting for memory, which was as much
// as the CRC-32 of every byte) while the full-buffer digest below still separates images that
// differ anywhere.
const STRIDE = 8;

/**
 * The benign classifier of the in-process server: a deterministic function of 448x448 BGR pixels
 * whose weights mean nothing but behave like the real ones (six category weights that sum to
 * about 1.0, plus `UnknownCSAM-Entropy` and `UnknownCSAM-PCSAM`).
 *
 * - The six category weights are a softmax of logits computed from colour, contrast and edge
 *   statistics of the pixels (nudged by a digest of every byte).
 * - `UnknownCSAM-Entropy` is the entropy (nats) of those six weights, between 0 and ln 6 (1.79).
 * - `UnknownCSAM-PCSAM` is, as the contract says of the real model, derived from the raw logits
 *   before normalisation and **not** their normalised sum: a logistic function of two logits and
 *   the digest, so it spreads over [0, 1] from image to image (0.03 for one image, 0.9 for
 *   another) instead of sitting at 1.0, which readers took for "certainly CSAM".
 *
 * None of these numbers mean anything about the picture: they exist so that clients see
 * realistic, deterministic, pixel-sensitive values.
 *
 * Use it in tests to compute the weights the server will return for an image, or to check that a
 * client passed the pixels through unchanged: any change to any byte changes the weights.
 * Weights are rounded to float32, as the wire carries them, so they compare equal to what a
 * client receives. Runs in well under a millisecond.
 *
 * @example
 * const pixels = Buffer.alloc(448 * 448 * 3, 128);
 * const labels = benignClassify(pixels); // [{ label: 'UnknownCSAM-Lakeside', weight: 0.16... }, ...]
 *
 * @param bgr448 exactly 602,112 bytes: 448x448, row-major, B,G,R interleaved.
 * @throws AthenaTestingError `INVALID_ARGUMENT` when the length is not 602,112.
 */
export function benignClassify(bgr448: Uint8Array): Classification[] {
  if (bgr448.length !== RAW_IMAGE_BYTES) {
    throw new AthenaTestingError('INVALID_ARGUMENT', `benignClassify needs ${RAW_IMAGE_BYTES} bytes (448x448 BGR), got ${bgr448.length}`);
  }
  // A digest of every byte nudges each logit slightly (below), so images that differ only between
  // the sampled pixels still get different weights. Taken first: it streams the whole image
  // through the cache, where the sampling loop then finds its rows (a server receives a batch of
  // 32 images, 19 MB, before classifying any, so each image starts out of cache).
  const digest = fullDigest(bgr448);
  let sumB = 0,
    sumG = 0,
    sumR = 0,
    sumL = 0,
    sumL2 = 0,
    edgeH = 0,
    edgeV = 0,
    top = 0,
    bottom = 0;
  // Locals, not module imports, inside the hot loop: imported bindings compile to property reads.
  const side = IMAGE_SIDE;
  const half = side / 2;
  const rowBytes = side * 3;
  const px: Uint8Array = bgr448;
  const prevRow = new Float64Array(side / STRIDE);
  let n = 0;
  for (let y = 0; y < side; y += STRIDE) {
    let left = -1;
    for (let x = 0, col = 0; x < side; x += STRIDE, col++) {
      const i = y * rowBytes + x * 3;
      const b = px[i],
        g = px[i + 1],
        r = px[i + 2];
      const l = 0.114 * b + 0.587 * g + 0.299 * r;
      sumB += b;
      sumG += g;
      sumR += r;
      sumL += l;
      sumL2 += l * l;
      // No Math.* in the hot loop: under vm sandboxes such as Jest's, global lookups are slow.
      if (left >= 0) {
        const d = l - left;
        edgeH += d < 0 ? -d : d;
      }
      if (y > 0) {
        const d = l - prevRow[col];
        edgeV += d < 0 ? -d : d;
      }
      prevRow[col] = l;
      left = l;
      if (y < half) top += l;
      else bottom += l;
      n++;
    }
  }
  const mb = sumB / n / 255,
    mg = sumG / n / 255,
    mr = sumR / n / 255;
  const meanL = sumL / n;
  const std = Math.sqrt(Math.max(0, sumL2 / n - meanL * meanL)) / 128;
  const eh = edgeH / n / 255,
    ev = edgeV / n / 255;
  const tb = (top - bottom) / (n / 2) / 255;

  const nudge = (k: number): number => (digest[k] / 255 - 0.5) * 0.05;

  const logits = [
    3 * mb + 1.5 * tb - eh,
    2 * std + 2 * tb + 3 * ev,
    3 * mg - mr + 2 * eh,
    2 * mb + 2 * mr - std,
    2 * eh + 2 * ev - mb,
    mr + mg - 2 * std,
  ].map((v, k) => v + nudge(k));
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, v) => a + v, 0);
  const weights = exps.map((v) => v / total);
  const entropy = -weights.reduce((a, w) => a + (w > 0 ? w * Math.log(w) : 0), 0);
  // From the raw logits, before the softmax, as the real model's PCSAM is; the digest of every
  // byte spreads it over [0, 1], so that images (even near-identical ones) differ visibly.
  const spread = ((digest[4] * 256 + digest[5]) / 65535 - 0.5) * 6;
  const pcsam = 1 / (1 + Math.exp(-(1.5 * (logits[1] - logits[3]) + spread)));

  const out: Classification[] = BENIGN_LABELS.map((label, k) => ({ label, weight: Math.fround(weights[k]) }));
  out.push({ label: ENTROPY_LABEL, weight: Math.fround(entropy) }, { label: PCSAM_LABEL, weight: Math.fround(pcsam) });
  return out;
}

/** `zlib.crc32` (Node 20.15+, native), else undefined: then the digest falls back to SHA-1. */
const crc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * At least 6 bytes, the first 4 of which change whenever any byte of the image changes: the
 * CRC-32 of the whole image (a CRC-32 catches every change confined to 32 consecutive bits, so
 * every single-byte change), then bytes 0^2 and 1^3. It runs at several GB/s, cheaper than the
 * SHA-1 the server used to pay per image on top of the sampling (bench/e2e.mjs, server CPU per
 * image). Without `zlib.crc32` (Node before 20.15), SHA-1 as before.
 */
function fullDigest(bgr448: Uint8Array): Uint8Array {
  if (!crc32) return createHash('sha1').update(bgr448).digest();
  const c = crc32(bgr448) >>> 0;
  const b = [c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff];
  return Uint8Array.of(b[0], b[1], b[2], b[3], b[0] ^ b[2], b[1] ^ b[3]);
}
