import { Subject } from 'rxjs';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';
import type { ImageInput } from '../../src/preprocess/types';

/** One raw 448x448 image shared by every input: sources cost no memory of their own. */
const pixels = new Uint8Array(RAW_IMAGE_BYTES).map((_, i) => (i * 7) % 251);

/** `n` raw-pixel inputs with refs 0..n-1 (and an optional affiliate per index). */
export function* rawImages(n: number, affiliate?: (i: number) => string | undefined): Generator<ImageInput<number>> {
  for (let i = 0; i < n; i++) yield { source: { bgr: pixels }, ref: i, ...(affiliate?.(i) ? { affiliate: affiliate(i) } : {}) };
}

/** Checks every ref 0..n-1 appears exactly once among `refs`. */
export function accountedOnce(refs: readonly (number | undefined)[], n: number): { missing: number[]; twice: number[] } {
  const seen = new Map<number, number>();
  for (const r of refs) if (r !== undefined) seen.set(r, (seen.get(r) ?? 0) + 1);
  const missing: number[] = [];
  const twice: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = seen.get(i) ?? 0;
    if (k === 0) missing.push(i);
    if (k > 1) twice.push(i);
  }
  return { missing, twice };
}

/**
 * Emits when a test ends (each spec calls `afterEach(() => testEnded.next())`); pipelines end with
 * `takeUntil(testEnded)`. A test that fails or times out (a loaded machine) otherwise leaves its
 * pipeline subscribed, with the keep-alive and timeout timers of `classify` running, and Jest's
 * worker cannot exit ("A worker process has failed to exit gracefully").
 */
export const testEnded = new Subject<void>();
