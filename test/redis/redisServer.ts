import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A real Debian `redis-server` on a free loopback port with a temporary directory, for one test
 * file. Append-only file with `fsync` on every write, so that `restart()` (SIGTERM, then a new
 * process on the same port and directory) loses nothing, as a production Redis with AOF does.
 */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the process and starts a new one on the same port and data. */
  restart(pauseMs?: number): Promise<void>;
  /** Stops the process (SIGTERM: it writes its data and exits). */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? (fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server');

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartRedisOptions {
  /** Picks the port to try (default {@link freePort}); called again after each port found taken. */
  readonly pickPort?: () => Promise<number>;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-redis-'));
  const pickPort = options.pickPort ?? freePort;
  let port = await pickPort();
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--daemonize',
        'no',
        '--protected-mode',
        'no',
      ];
      const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      let out = '';
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          proc.stdout!.off('data', onData);
          proc.stdout!.resume();
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
    });

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  };

  // A port found free may be bound by another process before redis-server binds it (another test
  // run on the machine, an outgoing connection's local port): then another port, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 5 || !(err instanceof Error) || !err.message.includes('Address already in use')) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      port = await pickPort();
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    kill,
    async restart(pauseMs = 0) {
      await kill();
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      await start();
    },
    async stop() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
