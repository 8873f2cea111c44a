import { benignClassify, BENIGN_LABELS, AthenaTestingError } from '../../src/testing';
import { rawImage } from './helpers';

describe('benignClassify (contract section 4)', () => {
  const weightsOf = (img: Buffer) => benignClassify(img).map((c) => c.weight);

  it('returns the six benign labels plus UnknownCSAM-Entropy and UnknownCSAM-PCSAM (section 4)', () => {
    expect(benignClassify(rawImage(1)).map((c) => c.label)).toEqual([...BENIGN_LABELS, 'UnknownCSAM-Entropy', 'UnknownCSAM-PCSAM']);
  });

  it('category weights sum to about 1.0; entropy is non-negative (section 4)', () => {
    const out = benignClassify(rawImage(2));
    const sum = out.slice(0, 6).reduce((a, c) => a + c.weight, 0);
    expect(sum).toBeCloseTo(1, 5);
    expect(out[6].weight).toBeGreaterThan(0);
    expect(out.slice(0, 6).every((c) => c.weight > 0 && c.weight < 1)).toBe(true);
  });

  it('PCSAM is its own output, not the sum of the categories: it varies over [0, 1] from image to image (section 4)', () => {
    // Sixteen flat grey images (cheap to make): as different as images get for the classifier's statistics.
    const pcsam = Array.from({ length: 16 }, (_, i) => benignClassify(Buffer.alloc(602_112, i * 16))[7]!);
    expect(pcsam.every((c) => c.label === 'UnknownCSAM-PCSAM' && c.weight >= 0 && c.weight <= 1)).toBe(true);
    const weights = pcsam.map((c) => c.weight);
    // Readers took a constant 1.000 for "certainly CSAM": the values must spread out.
    expect(weights.some((w) => w < 0.3)).toBe(true);
    expect(weights.some((w) => w > 0.7)).toBe(true);
    expect(new Set(weights).size).toBe(weights.length);
  });

  it('is deterministic: the same pixels give the same weights (section 4)', () => {
    expect(benignClassify(Buffer.from(rawImage(3)))).toEqual(benignClassify(rawImage(3)));
  });

  it('different images get different weights, even when one byte outside the sampled grid differs (section 4)', () => {
    const a = rawImage(4);
    const b = Buffer.from(a);
    b[1344 + 3 + 1] ^= 1; // row 1, column 1: not on the 8-pixel sampling grid
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    expect(wb).not.toEqual(wa);
    const images = [1, 2, 3, 4, 5, 6].map((seed) => weightsOf(rawImage(seed)).join(','));
    expect(new Set(images).size).toBe(images.length);
    const flat = (v: number) => weightsOf(Buffer.alloc(602_112, v)).join(',');
    expect(flat(0)).not.toEqual(flat(255));
  });

  it('weights are float32 values, as the wire carries them (section 1: Classification.weight is float)', () => {
    expect(weightsOf(rawImage(5)).every((w) => Math.fround(w) === w)).toBe(true);
  });

  it('refuses anything but 602,112 bytes with a typed error (section 2: 448x448x3)', () => {
    expect(() => benignClassify(Buffer.alloc(10))).toThrow(AthenaTestingError);
    try {
      benignClassify(Buffer.alloc(10));
    } catch (err) {
      expect((err as AthenaTestingError).code).toBe('INVALID_ARGUMENT');
    }
  });
});
