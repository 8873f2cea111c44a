/* eslint-disable @typescript-eslint/no-unused-vars -- type tests: these values exist to have their types checked */
import { join } from 'node:path';
import { from, lastValueFrom, toArray, VirtualTimeScheduler, type Observable } from 'rxjs';
import { classifyAll } from '../../src/pipeline/classifyAll';
import { classifyImages } from '../../src/pipeline/classifyImages';
import { classifyIterable } from '../../src/pipeline/classifyIterable';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import type { ImageInput } from '../../src/preprocess/types';
import { startAthenaServer, type Clock } from '../../src/testing';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';

/**
 * Type tests: `tsc -p tsconfig.json` (the first step of `npm test`) compiles this file, so an
 * inference that regresses fails the suite. `Equal` is exact (no widening to `unknown` or `any`).
 */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T>(_value: T): void {}
function refOf<R>(_events: Observable<ClassificationEvent<R>>): R {
  return undefined as R;
}

/** Never called: its body is what tsc checks. */
export async function typeChecks(
  client: AthenaGrpcClient,
  paths: string[],
  buffers: Buffer[],
  inputs: { source: string; ref: number }[],
  optionalRefs: ImageInput<number>[],
): Promise<void> {
  // Paths: `ref` is the path, exactly `string` (no `undefined`), without a type argument.
  const byPath = from(['a.jpg']).pipe(classifyImages(client));
  const pathRef = refOf(byPath);
  expectType<Equal<typeof pathRef, string>>(true);
  // @ts-expect-error a path's ref is a string, not a number
  const notNumber: number | undefined = refOf(byPath);
  byPath.subscribe((r) => {
    if (r.kind === 'foreign') return;
    const ref: string = r.ref; // the docs' `String(r.ref)` and `r.ref ?? r.correlationId` are not needed
    void ref;
  });

  // `{ ref, source }` objects with a required ref: `ref` is the caller's, exactly.
  const byInput = from(inputs).pipe(classifyImages(client));
  const inputRef = refOf(byInput);
  expectType<Equal<typeof inputRef, number>>(true);

  // `ImageInput<R>`, whose `ref` is optional: `R | undefined`, as the source may carry none.
  const byOptional = from(optionalRefs).pipe(classifyImages(client));
  const optionalRef = refOf(byOptional);
  expectType<Equal<typeof optionalRef, number | undefined>>(true);

  // Buffers carry no reference.
  const byBuffer = from(buffers).pipe(classifyImages(client));
  const bufferRef = refOf(byBuffer);
  expectType<Equal<typeof bufferRef, undefined>>(true);

  // An explicit type argument still wins, as before.
  const explicit = from(inputs).pipe(classifyImages<number>(client));
  // @ts-expect-error an explicit ref type must fit the sources' refs
  from(inputs).pipe(classifyImages<string>(client));
  const explicitRef = refOf(explicit);
  expectType<Equal<typeof explicitRef, number>>(true);

  // classifyAll and classifyIterable infer the same way.
  async function promises(): Promise<void> {
    const all = await classifyAll(client, paths);
    expectType<Equal<typeof all, ClassificationResult<string>[]>>(true);
    const first: string = all[0]!.ref;
    void first;
    const allInputs = await classifyAll(client, inputs);
    expectType<Equal<typeof allInputs, ClassificationResult<number>[]>>(true);
    const allBuffers = await classifyAll(client, buffers);
    expectType<Equal<typeof allBuffers, ClassificationResult<undefined>[]>>(true);
    for await (const event of classifyIterable(client, paths)) {
      if (event.kind !== 'foreign') expectType<Equal<typeof event.ref, string>>(true);
      if (event.kind !== 'foreign') {
        const ref: string = event.ref;
        void ref;
      }
    }
    for await (const event of classifyIterable(client, inputs)) {
      if (event.kind !== 'foreign') expectType<Equal<typeof event.ref, number>>(true);
    }
    // @ts-expect-error a number is not an image source
    await classifyAll(client, [42]);
  }
  await promises();
  void notNumber;
}

describe('inferred ref types (compiled by tsc in npm test)', () => {
  let server: Awaited<ReturnType<typeof startAthenaServer>>;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it('gives results of path sources their path as ref, typed string without a type argument', async () => {
    const real = createAthenaClient({ address: server.address, credentials: insecure() });
    try {
      const file = join(__dirname, '..', 'fixtures', 'preprocess', 'images', 'coffee-448x448.jpg');
      const [result] = await classifyAll(real, [file]);
      const ref: string = result!.ref;
      expect(ref).toBe(file);
      const events = await lastValueFrom(from([file]).pipe(classifyImages(real), toArray()));
      const refs: string[] = events.flatMap((e) => (e.kind === 'foreign' ? [] : [e.ref]));
      expect(refs).toEqual([file]);
    } finally {
      real.close();
    }
  });
});

describe('one clock abstraction', () => {
  it("an RxJS scheduler is the testing server's Clock as it is (SchedulerLike's now())", async () => {
    const scheduler = new VirtualTimeScheduler();
    const clock: Clock = scheduler; // compiles: a SchedulerLike is a Clock
    const server = await startAthenaServer({ clock });
    try {
      const client = createAthenaClient({ address: server.address, credentials: insecure() });
      await expect(client.listDeployments()).resolves.toHaveProperty('deployments');
      client.close();
    } finally {
      await server.stop();
    }
  });
});
