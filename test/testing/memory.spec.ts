import * as zlib from 'node:zlib';
import type { ClassifyResponse } from '../../src/contract/messages';
import { makeClient, openStream, sleep, type OutgoingRequest, type RawClient } from './helpers';
import { MB, startServerProcess, type ServerProcess } from './memory/harness';

/**
 * The bound docs/testing-server.md ("Memory bounds") promises for a server under this abuse. The
 * server runs in a child process that measures its own RSS every 10 ms and exits once past it,
 * so an unbounded server fails the test in seconds without taking the machine's memory.
 */
const RSS_BOUND = 1024 * MB;
/** What may stay above the idle server's RSS once the clients have left (after a full GC). */
const RSS_LEFT_AFTER = 150 * MB;

/**
 * Brotli that decodes to `bytes` zeros: 26 bytes on the wire for 10 MiB. Quality 5, not the
 * default 11: 27 bytes instead would cost the test some 0.4 CPU-s to compress.
 */
const bomb = (bytes: number) => zlib.brotliCompressSync(Buffer.alloc(bytes), { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });

describe('in-process server: memory stays bounded under abuse (issue 12)', () => {
  // One server for the three cases (starting a child costs a second or more on a busy machine);
  // each case asserts the peak so far, so a case that breaks the bound fails itself and the rest.
  // 4 MiB rather than the default 10 MiB per image: the same abuse, decoded in less time.
  jest.setTimeout(120_000); // each case's waits are bounded by 60 s (below), for a loaded machine
  let server: ServerProcess;
  const clients: RawClient[] = [];
  beforeAll(async () => {
    server = await startServerProcess({ maxImageBytes: 4 * MB }, RSS_BOUND);
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  afterAll(() => server.stop());

  function client(address: string): RawClient {
    const c = makeClient(address);
    clients.push(c);
    return c;
  }

  /** Sends one request on a new stream; resolves with its response, or rejects once the server passes the bound. */
  async function ask(s: ServerProcess, request: OutgoingRequest): Promise<ClassifyResponse> {
    const stream = openStream(client(s.address));
    stream.send(request);
    // 60 s: the child server shares a loaded machine (20 s was not enough at a load of 17).
    const response = await Promise.race([stream.next(60_000), s.exceeded]);
    stream.call.end();
    return response;
  }

  /**
   * Waits until `holds` is true of the server, asking it every 100 ms: within `withinMs` (a bound
   * for a loaded machine, where the child server gets little CPU), or rejects saying what did not happen.
   */
  async function within<T>(s: ServerProcess, withinMs: number, what: string, ask: () => Promise<T>, holds: (t: T) => boolean): Promise<T> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const value = await Promise.race([ask(), s.exceeded]);
      if (holds(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms; last seen ${JSON.stringify(value)}`);
      await Promise.race([sleep(100), s.exceeded]);
    }
  }

  it('one request of 10,000 tiny Brotli inputs (260 KB, 100 GB decoded) is refused whole with a global error; RSS stays under 1 GB', async () => {
    const s = server;
    const data = bomb(10 * MB);
    const inputs = Array.from({ length: 10_000 }, (_, k) => ({
      affiliate: 'a',
      correlationId: `bomb-${k}`,
      encoding: 'REQUEST_ENCODING_BROTLI' as const,
      format: 'IMAGE_FORMAT_RAW_UINT8_BGR' as const,
      data,
    }));
    const response = await ask(s, { deploymentId: 'bombs', inputs });
    expect(response.outputs).toEqual([]);
    expect(response.globalError).toMatchObject({
      code: 'ERROR_CODE_UNSPECIFIED',
      message: expect.stringMatching(/10000 inputs.*at most 1000/),
    });
    expect((await s.memory()).peak).toBeLessThan(RSS_BOUND);
  });

  it('a request within the limit, 200 inputs that each decode to more than the 4 MiB allowed, gets IMAGE_TOO_LARGE per image; decoding is bounded, RSS stays under 1 GB', async () => {
    const s = server;
    const data = bomb(4 * MB + 1);
    const inputs = Array.from({ length: 200 }, (_, k) => ({
      affiliate: 'a',
      correlationId: `png-bomb-${k}`,
      encoding: 'REQUEST_ENCODING_BROTLI' as const,
      format: 'IMAGE_FORMAT_PNG' as const,
      data,
    }));
    const response = await ask(s, { deploymentId: 'png-bombs', inputs });
    expect(response.globalError).toBeNull();
    expect(response.outputs).toHaveLength(200);
    expect(new Set(response.outputs.map((o) => o.error?.code))).toEqual(new Set(['ERROR_CODE_IMAGE_TOO_LARGE']));
    expect(response.outputs[0].error?.message).toMatch(/decodes to more than 4194304 bytes/);
    expect((await s.memory()).peak).toBeLessThan(RSS_BOUND);
  });

  it('20 streams that send 10,000 images each and never read keep RSS under 1 GB, and it falls back once the clients leave', async () => {
    const s = server;
    const before = await s.memory();
    // One colour: 20 bytes of Brotli that decode to a full 448x448 raw image.
    const data = zlib.brotliCompressSync(Buffer.alloc(602_112, 7));
    const calls = Array.from({ length: 20 }, (_, c) => {
      const call = client(s.address).Classify() as ReturnType<typeof openStream>['call'];
      call.on('error', () => {}); // cancelled below; no 'data' listener: this client never reads
      return { call, deploymentId: `never-reads-${c}` };
    });
    const sendAll = async ({ call, deploymentId }: (typeof calls)[number]) => {
      for (let i = 0; i < 10_000; i += 32) {
        const inputs = Array.from({ length: 32 }, (_, k) => ({
          affiliate: 'a',
          correlationId: `${deploymentId}-${i + k}`,
          encoding: 'REQUEST_ENCODING_BROTLI' as const,
          format: 'IMAGE_FORMAT_RAW_UINT8_BGR' as const,
          data,
        }));
        // The server may push back for ever (flow control): a short wait for 'drain', then stop.
        if (!call.write({ deploymentId, inputs })) {
          const drained = await Promise.race([new Promise((r) => call.once('drain', () => r(true))), sleep(500).then(() => false)]);
          if (!drained) return;
        }
      }
    };
    await Promise.race([Promise.all(calls.map(sendAll)), s.exceeded]);
    expect((await s.memory()).peak).toBeLessThan(RSS_BOUND);

    for (const { call } of calls) call.cancel();
    clients.splice(0).forEach((c) => c.close());
    // Signals, not a pause: the server sees every connection close and every stream leave, then
    // its memory falls back (it may still be answering what it had taken in), each within 60 s.
    // The peak covers the whole run. No stream joined is not enough: the server answers `stats`
    // between reads of its sockets, and on a loaded machine a stream's first request was still
    // unread after such a look; it joined later, and its cancel had not been read either when
    // the test ended (20 deployments with a stream each). Once a connection is closed, everything
    // its client sent has been read.
    await within(
      s,
      60_000,
      'every connection closed and every stream gone',
      () => s.stats(),
      (st) => st.connections === 0 && st.deployments.every((d) => d.streams === 0),
    );
    const after = await within(
      s,
      60_000,
      'RSS back near the idle server',
      () => s.memory(),
      (m) => m.rss - before.rss < RSS_LEFT_AFTER,
    );
    expect(after.peak).toBeLessThan(RSS_BOUND);
    expect(after.rss - before.rss).toBeLessThan(RSS_LEFT_AFTER);
    expect((await s.stats()).deployments.filter((d) => d.streams > 0)).toEqual([]);
  });
});
