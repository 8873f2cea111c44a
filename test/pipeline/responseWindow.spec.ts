/**
 * The 1-hour response window watched (issue 11): an image still unanswered `warnAt` of the
 * response lifetime after its first send is reported by a `late` event and counted, and still
 * classified when its answer comes. Here the lifetime is shrunk to 1 s and answers take 400 ms.
 */
import { from, lastValueFrom, tap, toArray } from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import { classify, type ClassifyItem, type ClassifyLateEvent } from '../../src/operators/classify';
import { correlate } from '../../src/operators/correlate';
import { preprocess } from '../../src/operators/preprocess';
import { pipelineMetrics } from '../../src/metrics';
import { startAthenaServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';
import { rawImages } from './helpers';
import type { ImageRecord } from '../../src/operators/classify/ledger';
import { lateDelay, rotationDelay } from '../../src/operators/classify/watch';

describe('classify watching the response window', () => {
  it('reports images unanswered at warnAt of the lifetime, once each, and still classifies them', async () => {
    const server = await startAthenaServer();
    server.faults.latency(400);
    const client = createAthenaClient({ address: server.address, credentials: insecure() });
    const metrics = pipelineMetrics();
    const late: ClassifyLateEvent<number>[] = [];
    try {
      const results = await lastValueFrom(
        from(rawImages(6)).pipe(
          preprocess<number>({ encoding: 'brotli', brotliQuality: 1 }),
          bufferBatch<ClassifyItem<number>>({ maxCount: 6, maxWait: 5 }),
          classify<number>(client, { responseWindow: { lifetime: 1_000, warnAt: 0.1 } }),
          metrics.tapClassifyEvents(),
          tap((e) => {
            if (e.kind === 'late') late.push(e);
          }),
          correlate<number>(),
          toArray(),
        ),
      );
      expect(results.map((r) => r.kind)).toEqual(Array(6).fill('success'));
      const reported = late.flatMap((e) => e.images.map((i) => i.image.ref));
      expect([...reported].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(late.every((e) => e.lifetime === 1_000)).toBe(true);
      expect(metrics.snapshot().lateAnswers).toBe(6);
    } finally {
      client.close();
      await server.stop();
    }
  }, 30_000);

  it('sets no late timer when the response timeout comes first (the default: 120 s against 30 min), else the time left', () => {
    const rec = (firstSentAt: number) => ({ firstSentAt }) as unknown as ImageRecord<unknown>;
    expect(lateDelay([rec(0)], 0, 1_800_000, 120_000)).toBeUndefined();
    expect(lateDelay([rec(0), rec(50)], 100, 500, 120_000)).toBe(400); // the earliest first send decides
    expect(lateDelay([rec(0)], 900, 500, 120_000)).toBe(0); // already late (a re-send)
  });

  it('rotates rotateBefore ahead of the expiry, at most a quarter of the lifetime left, never for an unknown expiry', () => {
    expect(rotationDelay(100_000 + 3_600_000, 100_000, 30_000)).toBe(3_570_000);
    expect(rotationDelay(2_000, 0, 30_000)).toBe(1_500);
    expect(rotationDelay(undefined, 0, 30_000)).toBeUndefined();
    expect(rotationDelay(Infinity, 0, 30_000)).toBeUndefined();
  });
});
