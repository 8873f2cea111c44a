/**
 * The server's bounds on what one client can make it hold (issue 22): streams per connection,
 * concurrent ClassifySingle calls, and deployments (capped, the least recently used evicted).
 * memoryBounds.spec.ts measures the memory under the same abuse at scale.
 */
import * as grpc from '@grpc/grpc-js';
import { startAthenaServer, ManualClock, type AthenaTestServer } from '../../src/testing';
import { classifySingle, makeClient, openStream, rawInput, until, type RawClient } from './helpers';
import { rawConnect } from './memory/rawCalls';

describe('in-process server: bounds', () => {
  let server: AthenaTestServer | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await server?.stop();
    server = undefined;
  });
  const client = (s: AthenaTestServer): RawClient => {
    const c = makeClient(s.address);
    clients.push(c);
    return c;
  };

  it('announces maxConcurrentStreams (default 32) as HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    server = await startAthenaServer();
    const c = await rawConnect(server.address);
    expect(c.maxConcurrentStreams).toBe(32);
    c.close();
    await server.stop();
    server = await startAthenaServer({ maxConcurrentStreams: 3 });
    const small = await rawConnect(server.address);
    expect(small.maxConcurrentStreams).toBe(3);
    small.close();
  });

  it('ClassifySingle beyond maxConcurrentUnary is refused at once with RESOURCE_EXHAUSTED (retryable), the others answered', async () => {
    server = await startAthenaServer({ maxConcurrentUnary: 2 });
    const s = server;
    s.faults.latency(600_000); // the first two are held until released below
    const c = client(s);
    // Three at once: whichever two arrive first are held; the last is refused without waiting.
    const settled = ['u1', 'u2', 'u3'].map((id) =>
      classifySingle(c, rawInput(id)).then(
        (o) => o.correlationId,
        (err: grpc.ServiceError) => err,
      ),
    );
    const refused = await Promise.race(settled);
    // Without the cap all three would be held until the release below: none could settle first.
    expect(refused).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'server busy: 2 ClassifySingle calls in progress; retry after a back-off',
    });
    s.faults.latency(0);
    const all = await Promise.all(settled);
    expect(all.filter((x) => typeof x === 'string')).toHaveLength(2);
    // Room again once they are answered.
    await expect(classifySingle(c, rawInput('u4'))).resolves.toMatchObject({ correlationId: 'u4' });
  });

  it('a deployment beyond maxDeployments evicts the least recently used one without a stream; with all joined, the stream is refused', async () => {
    const clock = new ManualClock(1_000_000);
    server = await startAthenaServer({ clock, maxDeployments: 3 });
    const s = server;
    const c = client(s);
    const join = async (deploymentId: string) => {
      const stream = openStream(c);
      stream.send({ deploymentId, inputs: [] });
      await until(() => s.deployments().some((d) => d.deploymentId === deploymentId && d.streams === 1));
      return stream;
    };
    for (const id of ['a', 'b', 'c']) {
      const stream = await join(id);
      stream.call.end();
      await until(() => s.deployments().find((d) => d.deploymentId === id)?.streams === 0);
      clock.advance(1000);
    }
    const d = await join('d');
    expect(
      s
        .deployments()
        .map((x) => x.deploymentId)
        .sort(),
    ).toEqual(['b', 'c', 'd']); // 'a' was the least recently used
    const e = await join('e');
    const f = await join('f');
    expect(
      s
        .deployments()
        .map((x) => x.deploymentId)
        .sort(),
    ).toEqual(['d', 'e', 'f']);
    // Every one has a stream now: a fourth cannot be made room for.
    const g = openStream(c);
    g.send({ deploymentId: 'g', inputs: [] });
    const status = await g.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toBe('this server holds 3 deployments, each with a stream joined; try again later');
    for (const x of [d, e, f]) x.call.end();
  });

  it('refuses a bound that is not a positive integer', async () => {
    await expect(startAthenaServer({ maxDeployments: 0 })).rejects.toThrow('maxDeployments must be a positive integer, got 0');
    await expect(startAthenaServer({ maxConcurrentUnary: 1.5 })).rejects.toThrow('maxConcurrentUnary must be a positive integer, got 1.5');
    await expect(startAthenaServer({ maxConcurrentStreams: -1 })).rejects.toThrow(
      'maxConcurrentStreams must be a positive integer, got -1',
    );
  });
});
