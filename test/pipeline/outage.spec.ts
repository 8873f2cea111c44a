/**
 * Outages ridden out by time, not by count (issue 11): the in-process server is stopped in the
 * middle of a run and started again on the same port some seconds later; every image still
 * comes out exactly once, classified.
 */
import { from, lastValueFrom, tap, toArray } from 'rxjs';
import { classifyImages } from '../../src/pipeline/classifyImages';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';
import { prepareImage } from '../../src/preprocess/prepare';
import type { ImageInput } from '../../src/preprocess/types';
import { accountedOnce, rawImages } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ours = <R>(events: ClassificationEvent<R>[]): ClassificationResult<R>[] =>
  events.filter((e): e is ClassificationResult<R> => e.kind !== 'foreign');

interface OutageRun {
  readonly results: ClassificationResult<number>[];
  /** Real time from the restart to the first answer after it (printed, never asserted). */
  readonly foundAfterMs: number | undefined;
}

/**
 * The reconnect timings of the client (gRPC's channel, and `classify`'s own), the library's
 * defaults divided by `scale`: an outage divided by the same is the same outage, the same number
 * of reconnect delays long, in less real time.
 */
function reconnectTimings(scale: number) {
  return {
    channelOptions: { 'grpc.initial_reconnect_backoff_ms': 250 / scale, 'grpc.max_reconnect_backoff_ms': 1_000 / scale },
    reconnect: { initialDelay: 200 / scale, maxDelay: 500 / scale },
  };
}

/**
 * Classifies `n` images; after `stopAfter` results the server is down for `outageMs`, then back on
 * the same port. The client's reconnect timings are the defaults divided by `scale` (see
 * `reconnectTimings`; 1: the defaults).
 */
async function throughOutage(n: number, stopAfter: number, outageMs: number, scale = 1): Promise<OutageRun> {
  let server: AthenaTestServer = await startAthenaServer();
  const { port } = server;
  // Slow answers, so that the run is still going when the server stops.
  server.faults.latency(20);
  const { channelOptions, reconnect } = reconnectTimings(scale);
  const client = createAthenaClient({ address: server.address, credentials: insecure(), channelOptions });
  let done = 0;
  let restartedAt: number | undefined;
  let foundAfterMs: number | undefined;
  let stopped: Promise<void> | undefined;
  const run = lastValueFrom(
    from(rawImages(n)).pipe(
      classifyImages<number>(client, {
        window: 16,
        batch: { maxCount: 4, maxWait: 5 },
        classify: { reconnect },
        preprocess: { encoding: 'brotli', brotliQuality: 1 },
      }),
      tap((r) => {
        done += 1;
        if (restartedAt !== undefined && foundAfterMs === undefined && r.kind === 'success') foundAfterMs = Date.now() - restartedAt;
        if (done === stopAfter) {
          stopped = (async () => {
            await server.stop();
            // real-time wait: the outage itself, by design; what follows waits on signals (the run's end).
            await sleep(outageMs);
            server = await startAthenaServer({ port });
            server.faults.latency(20);
            restartedAt = Date.now();
          })();
        }
      }),
      toArray(),
    ),
  );
  try {
    const results = ours(await run);
    await stopped;
    return { results, foundAfterMs };
  } finally {
    client.close();
    await stopped?.catch(() => undefined);
    await server.stop();
  }
}

/**
 * The outages of the suite: 3 s and 10 s (6 and 20 of `classify`'s longest reconnect delay, 3 and
 * 10 of gRPC's), with every reconnect timing of the client divided by 5: the same outages in a
 * fifth of the real time. ATHENA_LONG_TESTS runs them with the default timings too.
 */
const SCALE = 5;

/**
 * 60 images through an outage of `outageMs` after the 12th result, the client's reconnect timings
 * divided by `scale`: every image exactly once, all classified. How soon the restarted server is
 * found is measured in bench, not asserted here (no wall-clock thresholds).
 */
async function ridesOut(outageMs: number, scale = 1): Promise<number | undefined> {
  const n = 60;
  const { results, foundAfterMs } = await throughOutage(n, 12, outageMs, scale);
  expect(
    accountedOnce(
      results.map((r) => r.ref),
      n,
    ),
  ).toEqual({ missing: [], twice: [] });
  expect(results.filter((r) => r.kind !== 'success').map((r) => (r.kind === 'failure' ? r.code : r.kind))).toEqual([]);
  return foundAfterMs;
}

describe('an outage of the server, ridden out by time', () => {
  it.each([3_000, 10_000])(
    `a server back after %i ms (reconnect timings / ${SCALE}, so in a fifth of that): every image exactly once, all classified`,
    async (outageMs) => void (await ridesOut(outageMs / SCALE, SCALE)),
    60_000,
  );
});

/**
 * The long cases of the issue (30 s back within the default budget, 90 s past it) take minutes of
 * real time, so they run only when asked: ATHENA_LONG_TESTS=1 npx jest test/pipeline/outage.spec.ts
 */
const long = process.env.ATHENA_LONG_TESTS === '1' ? describe : describe.skip;

long('long outages (ATHENA_LONG_TESTS=1)', () => {
  it.each([3_000, 10_000])(
    'a server back after %i ms, with the default reconnect timings: every image exactly once, all classified',
    async (outageMs) => void (await ridesOut(outageMs)),
    60_000,
  );

  it('a server back after 30 s, within the default 60 s budget: every image once, all classified', async () => {
    const foundAfterMs = await ridesOut(30_000);
    console.log(`outage 30000 ms: first answer ${foundAfterMs} ms after the restart`);
  }, 120_000);

  it('a 90 s outage with the default budget: each image once, a failure or NOT_ATTEMPTED after 60 s, those after it not read', async () => {
    const n = 200;
    const { results, prepared } = await serverLostForGood(n); // not back within the 60 s budget (90 s or never: the same here)
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        n,
      ),
    ).toEqual({ missing: [], twice: [] });
    const notAttempted = results.filter((r) => r.kind === 'failure' && r.code === 'NOT_ATTEMPTED').length;
    expect(prepared + notAttempted).toBe(n);
    expect(notAttempted).toBeGreaterThan(n / 2);
  }, 180_000);
});

describe('an outage longer than the budget', () => {
  it('fails each outstanding image once, and reports the inputs not yet read as NOT_ATTEMPTED without reading them', async () => {
    const n = 200;
    const { results, prepared } = await serverLostForGood(n, 1_500);
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        n,
      ),
    ).toEqual({ missing: [], twice: [] });
    const codeOf = (r: ClassificationResult<number>): string => (r.kind === 'success' ? 'success' : r.code);
    const notAttempted = results.filter((r) => r.kind === 'failure' && r.code === 'NOT_ATTEMPTED');
    // Nothing after the outage was read: every input is either prepared once or NOT_ATTEMPTED.
    expect(prepared + notAttempted.length).toBe(n);
    expect(notAttempted.length).toBeGreaterThan(n / 2);
    for (const r of notAttempted) expect(r).toMatchObject({ stage: 'transport', attempts: 0, retryable: true });
    expect([...new Set(results.map(codeOf))].sort()).toEqual(['NOT_ATTEMPTED', 'TRANSPORT_FAILED', 'success']);
  }, 60_000);
});

/**
 * Runs `n` images through `classifyImages` against a server stopped for good after the 12th
 * result, with the outage budget `giveUpAfter` (default: the library's); counts the inputs that
 * were actually read and decoded.
 */
async function serverLostForGood(n: number, giveUpAfter?: number): Promise<{ results: ClassificationResult<number>[]; prepared: number }> {
  const server = await startAthenaServer();
  server.faults.latency(20);
  const client = createAthenaClient({ address: server.address, credentials: insecure() });
  let prepared = 0;
  let done = 0;
  let stopped: Promise<void> | undefined;
  try {
    const results = ours(
      await lastValueFrom(
        from(rawImages(n)).pipe(
          classifyImages<number>(client, {
            window: 16,
            batch: { maxCount: 4, maxWait: 5 },
            ...(giveUpAfter !== undefined ? { classify: { reconnect: { giveUpAfter } } } : {}),
            preprocess: {
              prepare: (input) => {
                prepared += 1;
                return prepareImage(input as ImageInput<number>, { encoding: 'brotli', brotliQuality: 1 });
              },
            },
          }),
          tap(() => {
            done += 1;
            if (done === 12) stopped = server.stop();
          }),
          toArray(),
        ),
      ),
    );
    return { results, prepared };
  } finally {
    client.close();
    await stopped;
  }
}
