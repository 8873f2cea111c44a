/**
 * What the adapter needs of a Redis client: an `ioredis` `Redis` (or `Cluster`) instance fits as
 * it is. A structural type, so that `athena-rx/redis` loads without `ioredis` installed and works
 * with the version the application already has.
 *
 * Give the worker a client that waits for Redis instead of failing commands while it reconnects:
 * `new Redis(url, { maxRetriesPerRequest: null })`. Commands in flight when the connection drops
 * are sent again on reconnect (ioredis' default), which is safe here: reads land in the group's
 * pending list, and the result script acknowledges before it writes.
 */
export interface RedisConnection {
  /** Sends one command (`XREADGROUP`, `EVALSHA`, ...) and resolves with its reply. */
  call(command: string, ...args: Array<string | number | Buffer>): Promise<unknown>;
  /** A second connection with the same options, for the blocking reads. */
  duplicate(): RedisConnection;
  /** Closes the connection (the duplicate's, when the worker stops). */
  disconnect(): void;
  /** For the duplicate's `'error'` events (the application listens on its own client). */
  on?(event: 'error', listener: (err: unknown) => void): unknown;
}
