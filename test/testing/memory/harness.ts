// Runs the in-process server in a child process (serverChild.cjs) so a test can measure the
// server's own resident memory, apart from the test's clients.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { AthenaServerOptions, DeploymentInfo } from '../../../src/testing';
import { builtDist } from '../../helpers/builtDist';

export const MB = 1024 * 1024;

export interface MemorySample {
  rss: number;
  /** Highest RSS seen so far (sampled every 10 ms). */
  peak: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface ServerStats {
  audit: number;
  deployments: DeploymentInfo[];
  /** Client connections (TCP sockets) the server's process has open. */
  connections: number;
}

export interface ServerProcess {
  readonly address: string;
  /** RSS and heap after a full GC, with the peak so far. */
  memory(): Promise<MemorySample>;
  /** Audit records kept, `deployments()` of the server, and its open client connections. */
  stats(): Promise<ServerStats>;
  /** Rejects when the child passed `killAboveBytes` and exited (never resolves otherwise). */
  readonly exceeded: Promise<never>;
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the server has answered what it had taken in (its audit log stops growing for 3 looks). */
export async function settled(s: ServerProcess): Promise<void> {
  let last = -1;
  for (let same = 0; same < 3;) {
    await Promise.race([pause(200), s.exceeded]);
    const { audit } = await s.stats();
    same = audit === last ? same + 1 : 0;
    last = audit;
  }
}

function withoutTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = { ...env };
  delete rest.GLIBC_TUNABLES;
  return rest;
}

/**
 * Starts a server in a child `node` process. The child exits by itself past `killAboveBytes` of
 * RSS, so an unbounded server fails the test quickly instead of exhausting the machine.
 */
export async function startServerProcess(server: AthenaServerOptions, killAboveBytes: number): Promise<ServerProcess> {
  // The server as built once for the run (test/helpers/builtDist.ts): a child that transpiled the
  // sources it loads itself (through a TypeScript require hook) spent some 1.5 CPU-s on it before it could start.
  const testing = path.join(await builtDist(), 'cjs/testing/index.js');
  const child: ChildProcess = fork(path.join(__dirname, 'serverChild.cjs'), [JSON.stringify({ server, killAboveBytes }), testing], {
    execArgv: ['--expose-gc'],
    // glibc's own malloc settings, as an application's process has them: `npm test` runs with the
    // CLI's (scripts/jest-process.mjs), which keep up to 256 MB of freed memory mapped for reuse
    // and would change the RSS these tests bound.
    env: withoutTunables(process.env),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let exceededReject: (e: Error) => void = () => {};
  const exceeded = new Promise<never>((_, reject) => (exceededReject = reject));
  exceeded.catch(() => {});
  const waiters: ((m: MemorySample) => void)[] = [];
  const statsWaiters: ((m: ServerStats) => void)[] = [];
  let ready: (address: string) => void = () => {};
  let failed: (e: Error) => void = () => {};
  const address = new Promise<string>((resolve, reject) => ((ready = resolve), (failed = reject)));
  child.on('message', (m: { type: string; address?: string } & MemorySample) => {
    if (m.type === 'ready') ready(m.address!);
    else if (m.type === 'rss') waiters.shift()?.(m);
    else if (m.type === 'stats') statsWaiters.shift()?.(m as unknown as ServerStats);
    else if (m.type === 'exceeded')
      exceededReject(
        new Error(`server RSS passed ${Math.round(killAboveBytes / MB)} MB (${Math.round(m.rss / MB)} MB); the child was stopped`),
      );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    failed(new Error(`server child exited with ${code} before it was ready`));
    exceededReject(new Error(`server child exited with ${code}`));
  });
  return {
    address: await address,
    memory: () =>
      new Promise<MemorySample>((resolve, reject) => {
        if (child.exitCode !== null || !child.connected) return reject(new Error('server child has exited'));
        waiters.push(resolve);
        child.send({ type: 'rss' });
      }),
    stats: () =>
      new Promise<ServerStats>((resolve, reject) => {
        if (child.exitCode !== null || !child.connected) return reject(new Error('server child has exited'));
        statsWaiters.push(resolve);
        child.send({ type: 'stats' });
      }),
    exceeded,
    stop: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
