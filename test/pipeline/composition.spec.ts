import { from, lastValueFrom, map, toArray } from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import type { ClassifyItem } from '../../src/operators/classify';
import { correlate } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { preprocess } from '../../src/operators/preprocess';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';
import { classify } from '../../src/operators/classify';
import { accountedOnce, rawImages } from './helpers';

const ours = <R>(events: ClassificationEvent<R>[]): ClassificationResult<R>[] =>
  events.filter((e): e is ClassificationResult<R> => e.kind !== 'foreign');

/** Composition rules: the user's own operators between ours (docs/reliability.md#composition). */
describe('pipeline over loopback: operators of yours between the stages', () => {
  let server: AthenaTestServer;
  const clients: AthenaGrpcClient[] = [];
  const client = (): AthenaGrpcClient => {
    const c = createAthenaClient({ address: server.address, credentials: insecure() });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterEach(() => {
    server.faults.clear();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.stop());

  it('a spreading map between preprocess and bufferBatch keeps every credit: all images once, the window back at 0', async () => {
    const window = inFlightWindow(4);
    const results = await lastValueFrom(
      from(rawImages(6)).pipe(
        preprocess<number>({ window }),
        // A new object for every image: a credit must follow the correlation id, not the object.
        map((item) => ({ ...item, meta: { seen: true } })),
        bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWait: 5 }),
        classify<number>(client(), { window }),
        correlate<number>(),
        toArray(),
      ),
    );
    expect(accountedOnce(ours(results).map((r) => r.ref), 6)).toEqual({ missing: [], twice: [] });
    expect(ours(results).every((r) => r.kind === 'success')).toBe(true);
    expect(window.inUse).toBe(0);
    expect(window.highWater).toBe(4);
  });
});
