/**
 * Deterministic pseudo-random bytes (xorshift32), so failures reproduce. Each step of the
 * generator gives four bytes, written as one 32-bit word: a byte a step, as before, made the
 * resize suites spend more time on their inputs (some 28 MB) than on the resizers they check.
 */
export function noise(length: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, length);
}
