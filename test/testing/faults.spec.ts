import * as grpc from '@grpc/grpc-js';
import { startAthenaServer, ManualClock, type AthenaTestServer } from '../../src/testing';
import { classifySingle, listDeployments, makeClient, openStream, until, type RawClient } from './helpers';

const hashOnly = (correlationId: string) => ({
  affiliate: 'a',
  correlationId,
  hashes: [{ type: 'HASH_TYPE_SHA1' as const, value: '0'.repeat(40) }],
});

describe('in-process server: fault injection (contract section 2: retry advice, channel failures)', () => {
  let server: AthenaTestServer;
  let client: RawClient;
  beforeEach(async () => {
    server = await startAthenaServer({ clock: new ManualClock() });
    client = makeClient(server.address);
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('modelErrorFor(ids) -> per-image ERROR_CODE_MODEL_ERROR for those images only; the stream lives on (section 2)', async () => {
    server.faults.modelErrorFor(['m2']);
    const s = openStream(client);
    s.send({ deploymentId: 'f', inputs: [hashOnly('m1'), hashOnly('m2')] });
    const r = await s.next();
    expect(r.outputs.map((o) => o.error?.code)).toEqual([undefined, 'ERROR_CODE_MODEL_ERROR']);
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it('modelErrorFor(predicate, times) fails only the first N sightings, so a retry succeeds (section 2: MODEL_ERROR possibly retryable)', async () => {
    server.faults.modelErrorFor((id) => id.startsWith('retry'), 2);
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) codes.push((await classifySingle(client, hashOnly('retry-1'))).error?.code);
    expect(codes).toEqual(['ERROR_CODE_MODEL_ERROR', 'ERROR_CODE_MODEL_ERROR', undefined]);
  });

  it('modelErrorRate(rate, seed) is deterministic for a seed (section 2)', async () => {
    const run = async (seed: number, rate = 0.5) => {
      server.faults.modelErrorRate(rate, seed);
      const s = openStream(client);
      const inputs = Array.from({ length: 40 }, (_, i) => hashOnly(`r${seed}-${i}`));
      s.send({ deploymentId: `rate-${seed}-${Math.random()}`, inputs });
      const r = await s.next();
      s.call.end();
      await s.status;
      return r.outputs.map((o) => (o.error ? 1 : 0));
    };
    const first = await run(7);
    const again = await run(7);
    expect(again).toEqual(first);
    const failures = first.reduce<number>((a, b) => a + b, 0);
    expect(failures).toBeGreaterThan(5);
    expect(failures).toBeLessThan(35);
    expect(await run(7, 0)).toEqual(first.map(() => 0));
  });

  it('latency(ms) delays each response (section 2)', async () => {
    server.faults.latency(150);
    const started = Date.now();
    await classifySingle(client, hashOnly('slow'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('a lower latency shortens the waits under way: latency(0) releases held answers at once', async () => {
    server.faults.latency(60_000);
    const s = openStream(client);
    s.send({ deploymentId: 'held', inputs: [hashOnly('held')] });
    // Audited when classified, before the latency: the answer is being held now.
    await until(() => server.audit.some((a) => a.correlationId === 'held'));
    expect(s.responses).toEqual([]);
    server.faults.latency(0);
    expect((await s.next()).outputs).toMatchObject([{ correlationId: 'held', error: null }]);
    s.call.end();
    await s.status;
  });

  it('resetAfter(n): the next Classify stream fails UNAVAILABLE "stream reset" on its n-th message; the n-th is not answered (section 2: a reset stream)', async () => {
    server.faults.resetAfter(3);
    const s = openStream(client);
    for (let i = 1; i <= 3; i++) s.send({ deploymentId: 'reset', inputs: [hashOnly(`x${i}`)] });
    const status = await s.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toMatch(/stream reset/);
    expect(server.audit.map((a) => a.correlationId)).not.toContain('x3');
    // Only one stream is reset.
    const next = openStream(client);
    for (let i = 1; i <= 3; i++) next.send({ deploymentId: 'reset', inputs: [hashOnly(`y${i}`)] });
    await until(() => next.responses.length === 3);
    next.call.end();
    expect((await next.status).code).toBe(0);
  });

  it('resetAfter(0) resets the next stream as soon as it opens (section 2)', async () => {
    server.faults.resetAfter(0);
    expect((await openStream(client).status).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('unavailableNext(n): the next n calls of any RPC fail UNAVAILABLE, then calls succeed (section 2)', async () => {
    server.faults.unavailableNext(2);
    await expect(listDeployments(client)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((await openStream(client).status).code).toBe(grpc.status.UNAVAILABLE);
    await expect(listDeployments(client)).resolves.toEqual({ deployments: [] });
  });

  it('pauseReading() stops reading requests so the client sees write back-pressure; resumeReading() lets them through (issue 2: back-pressure)', async () => {
    server.faults.pauseReading();
    const s = openStream(client);
    const image = { affiliate: 'a', correlationId: '', format: 'IMAGE_FORMAT_RAW_UINT8_BGR' as const, data: Buffer.alloc(602_112, 7) };
    // Write as fast as the stream lets us: whenever write() says false, wait for 'drain' (300 ms at most).
    let sent = 0;
    const drain = () =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 300);
        s.call.once('drain', () => (clearTimeout(timer), resolve(true)));
      });
    for (;;) {
      const more = s.send({ deploymentId: 'bp', inputs: [{ ...image, correlationId: `bp${sent}` }] });
      sent++;
      if (!more && !(await drain())) break;
      if (sent >= 200) break;
    }
    // The client was held back long before 200 images (~120 MB): the server buffers a bounded amount.
    expect(sent).toBeLessThan(100);
    expect(s.responses).toEqual([]);
    server.faults.resumeReading();
    await until(() => s.responses.length === sent, 15000);
    s.call.end();
    expect((await s.status).code).toBe(0);
  });
});
