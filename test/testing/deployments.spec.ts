import { startAthenaServer, ManualClock, type AthenaTestServer } from '../../src/testing';
import { listDeployments, makeClient, openStream, rawInput, until, type RawClient, type TestStream } from './helpers';

const HOUR = 60 * 60 * 1000;
const hashOnly = (correlationId: string) => ({
  affiliate: 'a',
  correlationId,
  hashes: [{ type: 'HASH_TYPE_MD5' as const, value: '0'.repeat(32) }],
});

describe('in-process server: deployments (contract section 3)', () => {
  let clock: ManualClock;
  let server: AthenaTestServer;
  let client: RawClient;
  beforeEach(async () => {
    clock = new ManualClock(1_000_000);
    server = await startAthenaServer({ clock });
    client = makeClient(server.address);
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  /**
   * Leaves a response in the deployment's backlog: the latency fault holds the answer back until
   * its sender has gone, then releases it (no timer to race, however loaded the machine).
   */
  async function backlogOne(deploymentId: string, ...correlationIds: string[]): Promise<void> {
    server.faults.latency(60_000);
    const s = openStream(client);
    s.send({ deploymentId, inputs: correlationIds.map(hashOnly) });
    await until(() => server.audit.some((a) => a.correlationId === correlationIds[0]));
    s.call.cancel();
    await until(() => server.deployments().find((d) => d.deploymentId === deploymentId)?.streams === 0);
    server.faults.latency(0);
    await until(() => {
      const d = server.deployments().find((d) => d.deploymentId === deploymentId);
      return d !== undefined && d.backlog + d.purged === 1;
    });
  }

  it('a deployment is created by the first Classify request naming it (section 3)', async () => {
    expect(server.deployments()).toEqual([]);
    const s = openStream(client);
    s.send({ deploymentId: 'created', inputs: [] });
    await until(() => server.deployments().length === 1);
    expect(server.deployments()).toEqual([{ deploymentId: 'created', backlog: 0, streams: 1, purged: 0 }]);
    s.call.end();
    await s.status;
  });

  it('two streams share a deployment: each response goes to exactly one of them, round robin (section 3)', async () => {
    const a = openStream(client);
    const b = openStream(client);
    a.send({ deploymentId: 'shared', inputs: [] });
    b.send({ deploymentId: 'shared', inputs: [] });
    await until(() => server.deployments()[0]?.streams === 2);
    const ids = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'];
    for (const id of ids) a.send({ deploymentId: 'shared', inputs: [hashOnly(id)] });
    await until(() => a.responses.length + b.responses.length === ids.length);
    const got = (s: TestStream) => s.responses.flatMap((r) => r.outputs.map((o) => o.correlationId));
    expect([...got(a), ...got(b)].sort()).toEqual(ids);
    expect(got(a).length).toBe(3);
    expect(got(b).length).toBe(3);
    // Nothing arrives twice, even later: counted once both streams have ended ('end' follows the last 'data').
    const ended = [a, b].map((s) => new Promise((r) => s.call.once('end', r)));
    a.call.end();
    b.call.end();
    await Promise.all([a.status, b.status, ...ended]);
    expect(a.responses.length + b.responses.length).toBe(ids.length);
  });

  it('the outputs of one request are delivered together, in one response (section 3, modelled)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'together', inputs: [rawInput('t1', 1), rawInput('t2', 2), hashOnly('t3')] });
    const r = await s.next();
    expect(r.outputs.map((o) => o.correlationId)).toEqual(['t1', 't2', 't3']);
    s.call.end();
    await s.status;
  });

  it('a response no stream can take waits in the backlog; ListDeployments reports it; a joining stream receives it (section 3)', async () => {
    await backlogOne('held', 'waiting');
    expect((await listDeployments(client)).deployments).toEqual([{ deploymentId: 'held', backlog: 1 }]);
    const late = openStream(client);
    late.send({ deploymentId: 'held', inputs: [] });
    const r = await late.next();
    expect(r.outputs.map((o) => o.correlationId)).toEqual(['waiting']);
    expect((await listDeployments(client)).deployments).toEqual([{ deploymentId: 'held', backlog: 0 }]);
    late.call.end();
    await late.status;
  });

  it('a backlog holds at most maxBacklog responses: the oldest is purged first (bounded memory, modelled)', async () => {
    await server.stop();
    server = await startAthenaServer({ clock, maxBacklog: 2 });
    client.close();
    client = makeClient(server.address);
    // Three requests, then the sender goes away before any answer is released (the latency fault).
    server.faults.latency(60_000);
    const s = openStream(client);
    for (const id of ['first', 'second', 'third']) s.send({ deploymentId: 'small', inputs: [hashOnly(id)] });
    await until(() => server.audit.length === 3);
    s.call.cancel();
    await until(() => server.deployments()[0]?.streams === 0);
    server.faults.latency(0);
    await until(() => {
      const d = server.deployments()[0];
      return d !== undefined && d.backlog + d.purged === 3;
    });
    expect(server.deployments()).toEqual([{ deploymentId: 'small', backlog: 2, streams: 0, purged: 1 }]);
    const late = openStream(client);
    late.send({ deploymentId: 'small', inputs: [] });
    await until(() => late.responses.length === 2);
    expect(late.responses.flatMap((r) => r.outputs.map((o) => o.correlationId)).sort()).toEqual(['second', 'third']);
    // The purged id is free again.
    late.send({ deploymentId: 'small', inputs: [hashOnly('first')] });
    await until(() => late.responses.length === 3);
    expect(late.responses[2].outputs[0]).toMatchObject({ correlationId: 'first', error: null });
    late.call.end();
    await late.status;
  });

  it('all backlogs together hold at most maxBacklogImages images: the longest-waiting responses of the server are purged first (bounded memory, modelled)', async () => {
    await server.stop();
    server = await startAthenaServer({ clock, maxBacklogImages: 3 });
    client.close();
    client = makeClient(server.address);
    await backlogOne('older', 'o1', 'o2');
    clock.advance(1);
    await backlogOne('newer', 'n1', 'n2');
    // 4 images waiting > 3: the older deployment's response (both its images) is purged.
    expect(server.deployments()).toEqual([
      { deploymentId: 'older', backlog: 0, streams: 0, purged: 1 },
      { deploymentId: 'newer', backlog: 1, streams: 0, purged: 0 },
    ]);
    const late = openStream(client);
    late.send({ deploymentId: 'newer', inputs: [] });
    expect((await late.next()).outputs.map((o) => o.correlationId)).toEqual(['n1', 'n2']);
    late.call.end();
    await late.status;
  });

  it('responses are available for 1 hour; older undelivered ones are purged (section 3)', async () => {
    await backlogOne('ttl', 'old');
    clock.advance(HOUR);
    expect((await listDeployments(client)).deployments).toEqual([{ deploymentId: 'ttl', backlog: 1 }]);
    clock.advance(1);
    expect((await listDeployments(client)).deployments).toEqual([{ deploymentId: 'ttl', backlog: 0 }]);
    // The purged id is free again, and a joining stream gets nothing stale.
    const s = openStream(client);
    s.send({ deploymentId: 'ttl', inputs: [hashOnly('old')] });
    const r = await s.next();
    expect(r.outputs[0].error).toBeNull();
    expect(s.responses).toHaveLength(1);
    s.call.end();
    await s.status;
  });

  it('a deployment idle for 24 hours (no stream joined, no request) is removed with its responses (section 3)', async () => {
    await backlogOne('idle', 'gone');
    clock.advance(24 * HOUR - 1);
    expect(server.deployments().map((d) => d.deploymentId)).toEqual(['idle']);
    clock.advance(1);
    expect((await listDeployments(client)).deployments).toEqual([]);
    // Named again, it starts afresh with an empty backlog.
    const s = openStream(client);
    s.send({ deploymentId: 'idle', inputs: [] });
    await until(() => server.deployments().length === 1);
    expect(server.deployments()[0].backlog).toBe(0);
    s.call.end();
    await s.status;
  });

  it('a deployment with a joined stream is never idle, whatever the time (section 3)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'busy', inputs: [] });
    await until(() => server.deployments().length === 1);
    clock.advance(48 * HOUR);
    expect(server.deployments().map((d) => d.deploymentId)).toEqual(['busy']);
    s.call.end();
    await s.status;
    clock.advance(24 * HOUR);
    expect(server.deployments()).toEqual([]);
  });

  it('sweep() purges with a clock that has no onAdvance hook (section 3, injectable clock)', async () => {
    let now = 0;
    const bare = await startAthenaServer({ clock: { now: () => now } });
    const c = makeClient(bare.address);
    const s = openStream(c);
    s.send({ deploymentId: 'swept', inputs: [] });
    await until(() => bare.deployments().length === 1);
    s.call.end();
    await s.status;
    now += 24 * HOUR;
    bare.sweep();
    expect(bare.deployments()).toEqual([]);
    c.close();
    await bare.stop();
  });

  it('a stream that half-closes ends with OK after its answers are written (section 2)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'half', inputs: [rawInput('h1', 1)] });
    s.call.end();
    expect((await s.status).code).toBe(0);
    expect(s.responses.flatMap((r) => r.outputs.map((o) => o.correlationId))).toEqual(['h1']);
    expect(server.deployments()[0].streams).toBe(0);
  });

  it('a stream half-closed while its request is still being classified gets the answer before OK (section 2)', async () => {
    server.faults.latency(100);
    const s = openStream(client);
    s.send({ deploymentId: 'half-late', inputs: [hashOnly('late')] });
    s.call.end();
    expect((await s.status).code).toBe(0);
    expect(s.responses.flatMap((r) => r.outputs.map((o) => o.correlationId))).toEqual(['late']);
    expect(server.deployments()[0].backlog).toBe(0);
  });

  it('a client that stops reading gets no unbounded queue on the server: extra responses wait in the backlog, then flow on drain (section 3, bounded memory)', async () => {
    const s = openStream(client);
    s.call.pause();
    // Hash-only requests are cheap; their answers fill the paused client's HTTP/2 window.
    const total = 4000;
    for (let i = 0; i < total; i++) s.send({ deploymentId: 'slow', inputs: [hashOnly(`s${i}`)] });
    await until(() => server.audit.length === total, 20000);
    await until(() => server.deployments()[0].backlog > 0);
    const held = server.deployments()[0].backlog;
    expect(held).toBeGreaterThan(0);
    s.call.resume();
    await until(() => s.responses.length === total, 20000);
    expect(server.deployments()[0].backlog).toBe(0);
    const ids = new Set(s.responses.flatMap((r) => r.outputs.map((o) => o.correlationId)));
    expect(ids.size).toBe(total);
    s.call.end();
    expect((await s.status).code).toBe(0);
  });
});
