import * as zlib from 'node:zlib';
import type { ClassifyResponse } from '../../src/contract/messages';
import { makeClient, openStream, sleep, type OutgoingRequest, type RawClient } from './helpers';
import { MB, settled, startServerProcess, type ServerProcess } from './memory/harness';

/**
 * The bound docs/testing-server.md ("Memory bounds") promises for a server under this abuse. The
 * server runs in a child process that measures its own RSS every 10 ms and exits once past it,
 * so an unbounded server fails the test in seconds without taking the machine's memory.
 */
const RSS_BOUND = 1024 * MB;
/** What may stay above the idle server's RSS once the clients have left (after a full GC). */
const RSS_LEFT_AFTER = 150 * MB;

/** Brotli that decodes to `bytes` zeros: 27 bytes on the wire for 10 MiB. */
const bomb = (bytes: number) => zlib.brotliCompressSync(Buffer.alloc(bytes));

describe('in-process server: memory stays bounded under abuse (issue 12)', () => {
  // One server for the three cases (starting a child costs a second or more on a busy machine);
  // each case asserts the peak so far, so a case that breaks the bound fails itself and the rest.
  // 4 MiB rather than the default 10 MiB per image: the same abuse, decoded in less time.
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
    const response = await Promise.race([stream.next(20_000), s.exceeded]);
    stream.call.end();
    return response;
  }

  it('one request of 10,000 tiny Brotli inputs (270 KB, 100 GB decoded) is refused whole with a global error; RSS stays under 1 GB', async () => {
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
    await Promise.race([sleep(500), s.exceeded]);
    expect((await s.memory()).peak).toBeLessThan(RSS_BOUND);

    for (const { call } of calls) call.cancel();
    clients.splice(0).forEach((c) => c.close());
    await settled(s);
    const after = await s.memory();
    expect(after.peak).toBeLessThan(RSS_BOUND);
    expect(after.rss - before.rss).toBeLessThan(RSS_LEFT_AFTER);
    expect((await s.stats()).deployments.filter((d) => d.streams > 0)).toEqual([]);
  });
});
