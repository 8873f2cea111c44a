/**
 * The circuit breaker in front of the transport (issue 11): while it is open nothing is sent and
 * the window holds, so the pipeline stops reading and preparing; one probe after the cool-down
 * decides. The cool-down runs on virtual time, ended by the test once every request sent before
 * the circuit opened is answered: no answer can come late, into the half-open state, however
 * loaded the machine.
 */
import { from, lastValueFrom, tap, toArray, VirtualTimeScheduler } from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import { classify, type ClassifyItem } from '../../src/operators/classify';
import { correlate } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { preprocess } from '../../src/operators/preprocess';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import { circuitBreaker, type CircuitBreakerEvent } from '../../src/reliability/circuitBreaker';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';
import { accountedOnce, rawImages } from './helpers';

const ours = <R>(events: ClassificationEvent<R>[]): ClassificationResult<R>[] =>
  events.filter((e): e is ClassificationResult<R> => e.kind !== 'foreign');

describe('classify with a circuit breaker, over loopback', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it('stops sending while open (the window holds), probes once after the cool-down, and flows again when the probe succeeds', async () => {
    server.faults.modelErrorRate(1); // the service fails every image, until the test clears it
    const client = createAthenaClient({ address: server.address, credentials: insecure() });
    const clock = new VirtualTimeScheduler();
    const breaker = circuitBreaker({ failureThreshold: 3, window: 10_000, coolDown: 400, scheduler: clock });
    const log: string[] = [];
    // Images sent, and answered (failed or not); `allAnswered` is called once they are equal.
    let sentImages = 0;
    let answeredImages = 0;
    let allAnswered: (() => void) | undefined;
    breaker.events.subscribe((e: CircuitBreakerEvent) => {
      log.push(e.to);
      if (e.to === 'open' && log.filter((s) => s === 'open').length === 1) {
        // While open: nothing may be sent. Once the requests sent before are all answered (as
        // failures), the service recovers and the cool-down ends.
        void new Promise<void>((resolve) => (answeredImages >= sentImages ? resolve() : (allAnswered = resolve))).then(() => {
          server.faults.clear();
          clock.flush();
        });
      }
    });
    const window = inFlightWindow(8);
    let prepared = 0;
    const n = 40;
    try {
      const results = ours(
        await lastValueFrom(
          from(rawImages(n)).pipe(
            preprocess<number>({ window, encoding: 'brotli', brotliQuality: 1 }),
            tap(() => (prepared += 1)),
            bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWait: 5 }),
            classify<number>(client, { window, breaker }),
            tap((e) => {
              if (e.kind === 'sent') log.push(`sent:${breaker.state}:${prepared}`);
              if (e.kind === 'sent') sentImages += e.images.length;
              if (e.kind === 'response') answeredImages += e.response.outputs.length;
              if (allAnswered && answeredImages >= sentImages) allAnswered();
            }),
            correlate<number>(),
            toArray(),
          ),
        ),
      );
      expect(
        accountedOnce(
          results.map((r) => r.ref),
          n,
        ),
      ).toEqual({ missing: [], twice: [] });
      const opened = log.indexOf('open');
      const halfOpen = log.indexOf('half-open');
      const closed = log.indexOf('closed');
      expect(opened).toBeGreaterThan(0);
      expect(halfOpen).toBeGreaterThan(opened);
      expect(closed).toBeGreaterThan(halfOpen);
      // Nothing sent while open; exactly one request (the probe) while half-open.
      expect(log.slice(opened + 1, halfOpen).filter((s) => s.startsWith('sent'))).toEqual([]);
      expect(log.slice(halfOpen + 1, closed).filter((s) => s.startsWith('sent'))).toHaveLength(1);
      // While open the window held: no more images were prepared than it has credits.
      const preparedWhenOpen = Number(
        log
          .slice(0, opened)
          .filter((s) => s.startsWith('sent'))
          .pop()!
          .split(':')[2],
      );
      const probe = log.slice(halfOpen + 1, closed).find((s) => s.startsWith('sent'))!;
      expect(Number(probe.split(':')[2]) - preparedWhenOpen).toBeLessThanOrEqual(window.size);
      // Images failed before the breaker opened are MODEL_ERROR; after it closed, all succeed.
      expect(results.filter((r) => r.kind === 'failure').every((r) => r.kind === 'failure' && r.code === 'ERROR_CODE_MODEL_ERROR')).toBe(
        true,
      );
      expect(results.filter((r) => r.kind === 'success').length).toBeGreaterThan(n / 2);
      expect(window.inUse).toBe(0);
    } finally {
      client.close();
      breaker.dispose();
      server.faults.clear();
    }
  }, 30_000);
});
