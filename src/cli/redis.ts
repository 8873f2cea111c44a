import type { RedisConnection } from '../redis/index';
import { stringFlag, type Flags, type OptionSpec } from './args';
import { messageOf } from './errors';
import { UsageError, type CliIo } from './io';

/** Where the queue is: shared by `enqueue` and `worker`. */
export const REDIS_OPTIONS = {
  redis: { type: 'string' },
  stream: { type: 'string' },
} as const satisfies OptionSpec;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export const REDIS_HELP = `queue:
  --redis URL             the Redis server [ATHENA_REDIS_URL] (default ${DEFAULT_REDIS_URL});
                          redis://[user:password@]host:port[/db], rediss:// for TLS
  --stream NAME           the jobs stream (required)`;

/** A Redis connection for a command, and how to let it go. */
export interface OpenRedis {
  readonly redis: RedisConnection;
  readonly url: string;
  readonly close: () => void;
}

/**
 * The URL without its password, for messages. Parsed with `URL`, whose authority ends at the last
 * `@` (a password may hold `@`); where it does not parse, or parses with the credentials elsewhere
 * (an unencoded `?`, `#` or `/` in the password), everything between `//` and the last `@` goes.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  const at = url.lastIndexOf('@');
  if (scheme === undefined || at < scheme.length) return url;
  try {
    const parsed = new URL(url);
    // The parser's host is what follows the last '@': the password it found is the whole one.
    const afterAt = url.slice(at + 1).toLowerCase();
    if (parsed.password !== '' && afterAt.startsWith(parsed.host.toLowerCase())) {
      parsed.password = '***';
      return parsed.href;
    }
  } catch {
    // Not a URL: cut by hand below.
  }
  return `${scheme}***${url.slice(at)}`;
}

/** Reads `--redis` and `--stream`. */
export function resolveRedis(flags: Flags, env: NodeJS.ProcessEnv): { url: string; stream: string } {
  const url = stringFlag(flags, 'redis') ?? (env.ATHENA_REDIS_URL || DEFAULT_REDIS_URL);
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis must be a redis:// or rediss:// URL, got '${redactUrl(url)}'`);
  const stream = stringFlag(flags, 'stream');
  if (stream === undefined || stream === '') throw new UsageError('--stream NAME is required: the Redis stream that holds the jobs');
  return { url, stream };
}

/**
 * Connects with ioredis (an optional peer dependency, loaded here only); with `wait`, commands
 * wait for Redis across restarts instead of failing. Connection trouble is said once on stderr,
 * and once more when it is over, not once per retry.
 */
export function openRedis(
  url: string,
  io: CliIo,
  command: string,
  options: { wait: boolean; onState?: (down: boolean) => void },
): OpenRedis {
  let IORedis: typeof import('ioredis').default;
  try {
    // Loaded on use: ioredis is an optional peer dependency, needed only by enqueue and worker.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    IORedis = (require('ioredis') as typeof import('ioredis')).default;
  } catch (err) {
    // One line: Node's message goes on with the require stack, a line per module.
    const why = messageOf(err).split('\n')[0];
    throw new UsageError(`${command} needs the ioredis package, an optional dependency of athena-rx: npm install ioredis (${why})`);
  }
  const shown = redactUrl(url);
  // A worker waits for Redis (null: no limit); a one-shot command gives up after a few tries.
  // lazyConnect: nothing is opened until the first command, so a command that stops before
  // using Redis (the service is down) leaves no connection behind.
  const redis = new IORedis(url, { maxRetriesPerRequest: options.wait ? null : 2, enableAutoPipelining: true, lazyConnect: true });
  let trouble: string | undefined;
  redis.on('error', (err: unknown) => {
    const message = messageOf(err);
    if (trouble === undefined) {
      io.stderr.write(`redis ${shown}: unreachable (${message}); ${options.wait ? 'retrying until it answers' : 'retrying'}\n`);
      options.onState?.(true);
    }
    trouble = message;
  });
  redis.on('ready', () => {
    if (trouble !== undefined) {
      io.stderr.write(`redis ${shown}: connected again\n`);
      options.onState?.(false);
    }
    trouble = undefined;
  });
  return { redis, url: shown, close: () => redis.disconnect() };
}
