import { isImageInput } from '../preprocess/sources';
import type { ImageInput, ImageSource } from '../preprocess/types';
import type { ClassifyTransport } from '../transport/types';
import type { ClassifyImagesOptions, RefFor } from './classifyImages';
import { classifyIterable } from './classifyIterable';
import type { ClassificationResult } from '../operators/results';

type Source<R> = ImageSource | ImageInput<R>;

/**
 * Classifies every image and resolves with their results, in the order of `sources`: `results[i]`
 * is the answer for `sources[i]`. For code that does not use RxJS.
 *
 * Every image gets exactly one result: a success, or a failure with its code (per-image problems
 * never reject the Promise). It rejects only on a programming error or an error of the source
 * iterable. Results of other members of a shared deployment are left out.
 *
 * @example
 * ```ts
 * import { classifyAll, createAthenaClient, insecure } from 'athena-rx';
 *
 * async function main() {
 *   const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure() });
 *   const results = await classifyAll(client, ['a.jpg', 'b.png']);
 *   for (const r of results) console.log(r.ref, r.kind === 'success' ? r.classifications : r.code);
 *   client.close();
 * }
 * ```
 *
 * @param client The client (`createAthenaClient`) or any `ClassifyTransport`.
 * @param sources Image sources (paths, buffers, `{ bgr }`, `ImageInput`s), pulled lazily.
 * @param options As for `classifyImages`.
 * @see classifyIterable
 * @see classifyImages
 */
export async function classifyAll<R = unknown, S extends ImageSource | ImageInput<R> = ImageSource | ImageInput<R>>(
  client: ClassifyTransport,
  sources: Iterable<S> | AsyncIterable<S>,
  options: ClassifyImagesOptions<number> = {},
): Promise<ClassificationResult<RefFor<R, S>>[]> {
  type Ref = RefFor<R, S>;
  // Each source travels with its index as `ref`; the caller's own ref is put back on the result.
  const refs: Ref[] = [];
  async function* indexed(): AsyncGenerator<ImageInput<number>> {
    for await (const source of sources as AsyncIterable<Source<Ref>>) {
      const index = refs.length;
      if (isImageInput<Ref>(source)) {
        refs.push(source.ref as Ref);
        yield { ...source, ref: index };
      } else {
        refs.push((typeof source === 'string' ? source : undefined) as Ref);
        yield { source, ref: index };
      }
    }
  }
  const results: ClassificationResult<Ref>[] = [];
  for await (const event of classifyIterable<number>(client, indexed(), options)) {
    if (event.kind === 'foreign' || event.ref === undefined) continue;
    results[event.ref] = { ...event, ref: refs[event.ref] };
  }
  return results;
}
