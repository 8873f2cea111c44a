import { from, lastValueFrom, takeUntil, toArray } from 'rxjs';
import { classifyImages } from '../../src/pipeline/classifyImages';
import { createCorrelateStats } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { accountedOnce, rawImages, testEnded } from './helpers';

describe('pipeline over loopback: every image accounted for exactly once', () => {
  let server: AthenaTestServer;
  let client: AthenaGrpcClient | undefined;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterEach(() => {
    testEnded.next();
    client?.close();
  });
  afterAll(() => server.stop());

  it('classifies 500 images (4 windows), each exactly once, within the window', async () => {
    client = createAthenaClient({ address: server.address, credentials: insecure() });
    const stats = createCorrelateStats();
    const window = inFlightWindow(128);
    const results = await lastValueFrom(
      from(rawImages(500)).pipe(
        classifyImages<number>(client, { window, stats, preprocess: { encoding: 'brotli', brotliQuality: 1 } }),
        takeUntil(testEnded),
        toArray(),
      ),
    );
    expect(
      accountedOnce(
        results.map((r) => (r.kind === 'foreign' ? undefined : r.ref)),
        500,
      ),
    ).toEqual({ missing: [], twice: [] });
    expect(results.filter((r) => r.kind !== 'success')).toEqual([]);
    expect(stats).toEqual({ results: 500, foreign: 0, duplicates: 0, unattributed: 0 });
    expect(window.highWater).toBeLessThanOrEqual(128);
    expect(window.inUse).toBe(0);
    // A safety net, not a speed check: a loaded two-core machine took over 30 s.
  }, 120_000);
});
