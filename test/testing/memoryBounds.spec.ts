import { randomBytes } from 'node:crypto';
import { sleep } from './helpers';
import { MB, settled, startServerProcess, type ServerProcess } from './memory/harness';
import { classifierServiceDefinition } from '../../src/contract/load';
import { grpcFrame, rawConnect, type CallEnd, type RawConnection } from './memory/rawCalls';

/**
 * The second hostile probe's abuse (issue 22), against a server with its default options in a
 * child process that measures its own RSS (see memory.spec.ts): many streams on one connection,
 * a burst of unary calls, and deployments without end. docs/testing-server.md ("Memory bounds")
 * gives the figures these tests print.
 */
/**
 * The RSS the server must stay under, peak and after, and how many calls each burst makes. Sending
 * is most of this suite's CPU, so `npm test` bounds the server at 700 MB and sends 120 streams of
 * 10 raw images and 1,200 unary calls (722 MB each): more than the bound leaves above the idle
 * server (30-60 MB; each test checks that sum), so a server that held what it was sent fails,
 * while the bounded one peaked at 315-420 MB even with more sent. ATHENA_LONG_TESTS=1 runs the
 * probe's own sizes against the 1 GB bound of docs/testing-server.md: 250 streams (1.5 GB) and
 * 2,000 unary calls (1.2 GB); the unbounded server held 3.04 GB for the 1.5 GB.
 */
const LONG = process.env.ATHENA_LONG_TESTS === '1';
const RSS_BOUND = (LONG ? 1024 : 700) * MB;
const STREAMS = LONG ? 250 : 120;
const UNARY = LONG ? 2_000 : 1_200;
const bound = `${Math.round(RSS_BOUND / MB)} MB`;
/**
 * What the server may still hold once the clients have left, after a full GC: its JavaScript heap
 * and the buffers it references (`heapUsed + external`) above the idle server's. Memory released
 * is judged by what the server holds, not by RSS: how much freed memory malloc and V8 keep mapped
 * for reuse varies from run to run and accumulates over the tests that share one server
 * (measured 180 to 290 MB of RSS above idle after these bursts, with the heap back near idle).
 */
const HELD_AFTER = 64 * MB;
const OK = 0;
const RESOURCE_EXHAUSTED = 8;

/** Incompressible raw 448x448 BGR images, as the probe sent them. */
const IMAGES = Array.from({ length: 10 }, () => randomBytes(602_112));
const input = (id: string, k: number) => ({
  affiliate: 'a',
  correlationId: id,
  encoding: 'REQUEST_ENCODING_UNCOMPRESSED',
  format: 'IMAGE_FORMAT_RAW_UINT8_BGR',
  data: IMAGES[k % IMAGES.length],
});

describe('in-process server: bounds of the second hostile probe (issue 22)', () => {
  let server: ServerProcess;
  let idle: number;
  let idleHeld: number;
  const connections: RawConnection[] = [];
  beforeAll(async () => {
    server = await startServerProcess({}, RSS_BOUND);
    const m = await server.memory();
    idle = m.rss;
    idleHeld = m.heapUsed + m.external;
    // The child loads the shared build, which another worker may still be making (a clean clone).
  }, 120_000);
  afterEach(() => connections.splice(0).forEach((c) => c.close()));
  afterAll(() => server.stop());

  async function connect(): Promise<RawConnection> {
    const c = await rawConnect(server.address);
    connections.push(c);
    return c;
  }

  /**
   * Once the clients have gone and the server has answered what it took in (its audit stops
   * growing): its RSS, and what it still holds (heap and referenced buffers) above idle.
   */
  async function afterTheBurst(): Promise<{ rss: number; held: number }> {
    connections.splice(0).forEach((c) => c.close());
    await settled(server);
    const m = await server.memory();
    return { rss: m.rss, held: m.heapUsed + m.external - idleHeld };
  }

  const report = (what: string, peak: number, after: { rss: number; held: number }) =>
    process.stdout.write(
      `${what}: peak ${Math.round(peak / MB)} MB, ${Math.round(after.rss / MB)} MB after (idle ${Math.round(idle / MB)} MB; ` +
        `${Math.round(after.held / MB)} MB held above idle)\n`,
    );

  /** Bytes of raw images sent, against what the bound leaves above the idle server. */
  const offered = (images: number) => ({ sent: images * IMAGES[0]!.length, room: RSS_BOUND - idle });

  it('writes each request as exactly the bytes the contract serializes (the frame pieces work)', () => {
    const small = (id: string, k: number) => ({ ...input(id, k), data: IMAGES[k]!.subarray(0, 1000 + k) });
    const framed = (method: 'Classify' | 'ClassifySingle', message: object) => {
      const body = classifierServiceDefinition()[method]!.requestSerialize(message);
      const header = Buffer.alloc(5); // uncompressed, then the length (big-endian)
      header.writeUInt32BE(body.length, 1);
      return Buffer.concat([header, body]);
    };
    const request = { deploymentId: 'streams-7', inputs: [0, 1, 2].map((k) => small(`s7-${k}`, k)) };
    expect(Buffer.concat(grpcFrame('Classify', request)).equals(framed('Classify', request))).toBe(true);
    expect(Buffer.concat(grpcFrame('ClassifySingle', small('u1', 1))).equals(framed('ClassifySingle', small('u1', 1)))).toBe(true);
  });

  it(`${STREAMS} streams on one connection, each one request of 10 incompressible raw images: at most 32 open at once, every call ends, RSS under ${bound} and back after`, async () => {
    const { sent, room } = offered(STREAMS * IMAGES.length);
    expect(sent).toBeGreaterThan(room);
    const c = await connect();
    expect(c.maxConcurrentStreams).toBe(32);
    const frames = Array.from({ length: STREAMS }, (_, s) =>
      grpcFrame('Classify', { deploymentId: `streams-${s}`, inputs: IMAGES.map((_, k) => input(`s${s}-${k}`, k)) }),
    );
    const go = sleep(100).then(() => undefined); // every stream opened first, then every request sent
    const ends = await Promise.race([Promise.all(frames.map((f) => c.call('Classify', f, go))), server.exceeded]);
    // Every call ends: answered, or reset by Node's HTTP/2 session memory cap (ENHANCE_YOUR_CALM).
    const answered = ends.filter((e) => e === OK).length;
    expect(ends.filter((e) => e !== OK && e !== 'reset')).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    const after = await afterTheBurst();
    const { peak } = await server.memory();
    report(`${STREAMS} streams x 10 raw images on one connection (${answered} answered, ${STREAMS - answered} reset)`, peak, after);
    expect(peak).toBeLessThan(RSS_BOUND);
    expect(after.rss).toBeLessThan(RSS_BOUND);
    expect(after.held).toBeLessThan(HELD_AFTER);
  }, 180_000);

  it(`${UNARY.toLocaleString('en')} parallel ClassifySingle calls over 8 connections: every call ends (answered, RESOURCE_EXHAUSTED or reset), RSS under ${bound} and back after`, async () => {
    const { sent, room } = offered(UNARY);
    expect(sent).toBeGreaterThan(room);
    const cs = await Promise.all(Array.from({ length: 8 }, () => connect()));
    const go = sleep(100).then(() => undefined);
    const ends: CallEnd[] = await Promise.race([
      Promise.all(
        Array.from({ length: UNARY }, (_, k) => cs[k % 8]!.call('ClassifySingle', grpcFrame('ClassifySingle', input(`u${k}`, k)), go)),
      ),
      server.exceeded,
    ]);
    const answered = ends.filter((e) => e === OK).length;
    const refused = ends.filter((e) => e === RESOURCE_EXHAUSTED).length;
    const reset = ends.filter((e) => e === 'reset').length;
    expect(answered + refused + reset).toBe(UNARY);
    expect(answered).toBeGreaterThan(0);
    const after = await afterTheBurst();
    const { peak } = await server.memory();
    report(
      `${UNARY.toLocaleString('en')} ClassifySingle over 8 connections (${answered} answered, ${refused} RESOURCE_EXHAUSTED, ${reset} reset)`,
      peak,
      after,
    );
    expect(peak).toBeLessThan(RSS_BOUND);
    expect(after.rss).toBeLessThan(RSS_BOUND);
    expect(after.held).toBeLessThan(HELD_AFTER);
  }, 180_000);

  it('10,000 deployments from one unauthenticated client: at most 1,000 held (the least recently used evicted), RSS bounded', async () => {
    const c = await connect();
    const frames = Array.from({ length: 10_000 }, (_, d) => grpcFrame('Classify', { deploymentId: `dep-${d}`, inputs: [] }));
    for (let at = 0; at < frames.length; at += 500) {
      await Promise.race([Promise.all(frames.slice(at, at + 500).map((f) => c.call('Classify', f))), server.exceeded]);
    }
    const { deployments } = await server.stats();
    expect(deployments.length).toBe(1000);
    // The newest stay: eviction is least recently used first.
    expect(deployments.some((d) => d.deploymentId === 'dep-9999')).toBe(true);
    expect(deployments.some((d) => d.deploymentId === 'dep-0')).toBe(false);
    const after = await afterTheBurst();
    const { peak } = await server.memory();
    report('10,000 deployments from one client', peak, after);
    expect(peak).toBeLessThan(RSS_BOUND);
  }, 180_000);
});
