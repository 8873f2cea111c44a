import { Observable } from 'rxjs';
import type { RedisConnection } from './connection';

/** One job as the group delivered it to this consumer. */
export interface JobDelivery {
  /** The entry id in the jobs stream. */
  readonly id: string;
  /** The entry's field-value pairs, flat. */
  readonly fields: readonly string[];
  /** How many times the group has delivered it (1 the first time; more after claims). */
  readonly deliveries: number;
  /**
   * Times this worker has put the job through again within the same delivery (0 the first time):
   * after an answer lost to an outage, which does not count as a delivery.
   */
  readonly again?: number;
}

/** Options of {@link redisJobSource}. */
export interface RedisJobSourceOptions {
  /** The jobs stream. */
  readonly stream: string;
  /** The consumer group; created (from the stream's start) when missing. */
  readonly group: string;
  /** This reader's name in the group. */
  readonly consumer: string;
  /** Most jobs read and not yet settled. */
  readonly limit: number;
  /** A pending job idle this long (ms) belongs to a consumer presumed dead and is claimed. */
  readonly claimIdle: number;
  /** How long one `XREADGROUP` blocks (ms) waiting for new jobs. */
  readonly blockMs: number;
  /** Complete once the stream has nothing new and nothing of ours is in flight. */
  readonly drain: boolean;
  /** Called for every claimed job that another consumer had: `deliveries` counts this one. */
  readonly onClaim?: (delivery: JobDelivery) => Promise<void>;
  /**
   * Called when a read finds the group gone (`NOGROUP`: Redis lost its data, restarted without
   * persistence, or the stream was deleted). The group is created again and reading goes on.
   */
  readonly onGroupLost?: () => void;
}

/** The reading side of a worker: what is in flight, and how to settle and stop. */
export interface JobSourceControl {
  /** Ids read and not yet settled. */
  readonly inFlight: ReadonlySet<string>;
  /** The job is done here (written, released or dead-lettered): make room for another. */
  settle(id: string): void;
  /**
   * Stop reading: the blocking read in progress is cut short (`CLIENT UNBLOCK`), and the source
   * completes.
   */
  stop(): void;
  /**
   * Whether the service is down. While it is, no job is read or claimed, except one when none is
   * held here (it finds out when the service answers again); the jobs held stay pending.
   *
   * `settled`, when given, is called once no read or claim begun before this call is on its way
   * (at once when none is; a blocking read is cut short), in the order of the calls: from then on
   * `inFlight` holds every job Redis has given this consumer, so that what is said of the outage
   * ("the jobs held stay pending") is true when it is said.
   */
  setOutage(down: boolean, settled?: () => void): void;
  /**
   * Puts a held job through again within its delivery (its answer was lost to an outage): it is
   * emitted again with `again` one higher, and stays in flight. After `stop()` it is settled instead
   * (it stays pending in the group, for another worker), and `false` is returned.
   */
  again(delivery: JobDelivery): boolean;
  /**
   * Touches the jobs in flight (`XCLAIM ... JUSTID` to ourselves resets their idle time), so that
   * no one claims the jobs of a consumer that is alive. Call it every `claimIdle / 3` ms until the
   * last job is settled (the worker does).
   */
  touch(): Promise<void>;
}

type StreamEntry = [id: string, fields: string[]];

/** What the reading loop and its control share. */
class SourceState {
  readonly inFlight = new Set<string>();
  /** Held jobs to emit again (see `JobSourceControl.again`). */
  readonly redo: JobDelivery[] = [];
  stopped = false;
  down = false;
  /** The blocking connection's `CLIENT ID`, to unblock its read on `stop()`. */
  readerId: unknown;
  /** Whether a read or claim is on its way: Redis may have given jobs that are not in `inFlight` yet. */
  reading = false;
  /** Called once no read or claim is on its way (see `JobSourceControl.setOutage`), in order. */
  private readonly whenSettled: Array<() => void> = [];
  private wake: (() => void) | undefined;

  /** Calls `f` once no read or claim is on its way: now, or when the one on its way has emitted its jobs. */
  afterReads(f: () => void): void {
    if (this.reading) this.whenSettled.push(f);
    else f();
  }

  /** A read or claim has emitted what it got (or failed, or the source closed). */
  readDone(): void {
    this.reading = false;
    for (const f of this.whenSettled.splice(0)) f();
  }

  /** Wakes the loop up if it waits for room. */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves at the next `poke()`. */
  waitForPoke(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }
}

function sourceControl(redis: RedisConnection, { stream, group, consumer }: RedisJobSourceOptions, state: SourceState): JobSourceControl {
  const { inFlight } = state;
  const control: JobSourceControl = {
    inFlight,
    settle(id) {
      if (inFlight.delete(id)) state.poke();
    },
    stop() {
      if (state.stopped) return;
      state.stopped = true;
      state.poke();
      // A blocking read in progress returns at once (as if it had timed out): nothing is lost.
      if (typeof state.readerId === 'number') redis.call('CLIENT', 'UNBLOCK', state.readerId).catch(() => undefined);
    },
    setOutage(value, settled) {
      state.down = value;
      state.poke();
      if (!settled) return;
      // A read blocked waiting for new jobs returns at once (as if it had timed out): saying so
      // waits for nothing, and a read begun with the room of the other state is not kept.
      if (state.reading && typeof state.readerId === 'number') {
        redis.call('CLIENT', 'UNBLOCK', state.readerId).catch(() => undefined);
      }
      state.afterReads(settled);
    },
    again(delivery) {
      if (state.stopped) {
        control.settle(delivery.id);
        return false;
      }
      state.redo.push({ ...delivery, again: (delivery.again ?? 0) + 1 });
      state.poke();
      return true;
    },
    async touch() {
      if (inFlight.size > 0) await redis.call('XCLAIM', stream, group, consumer, 0, ...inFlight, 'JUSTID');
    },
  };
  return control;
}

/**
 * Jobs of a stream through a consumer group, paced by a limit: `XREADGROUP ... COUNT n` asks only
 * for as many jobs as there is room for (`limit` minus the jobs read and not yet settled), so no
 * job waits in this process that the pipeline's window could not take; the rest stays in Redis
 * for other workers. Every `claimIdle / 2` ms, `XAUTOCLAIM` takes over jobs that another
 * consumer left pending for `claimIdle` ms (it died); `control.touch()` keeps the jobs of this
 * consumer from looking idle while they are worked on.
 *
 * Redis errors (other than the connection dropping, which the client rides out) error the
 * Observable: the jobs in flight stay pending and another worker claims them.
 */
export function redisJobSource(
  redis: RedisConnection,
  options: RedisJobSourceOptions,
): { jobs: Observable<JobDelivery>; control: JobSourceControl } {
  const { stream, group, limit, claimIdle, blockMs } = options;
  const state = new SourceState();
  const { inFlight, redo } = state;
  const control = sourceControl(redis, options, state);

  const jobs = new Observable<JobDelivery>((subscriber) => {
    let closed = false;
    // Blocking reads get a connection of their own, so that results and claims never wait behind them.
    const reader = redis.duplicate();
    // Its connection errors are the application's client's too, which reports them; without a
    // listener ioredis would print each one.
    reader.on?.('error', () => undefined);
    let cursor = '0-0';
    let lastClaim = -Infinity;

    const claim = async (room: number): Promise<JobDelivery[]> => {
      const claimed = await claimIdleJobs(redis, options, cursor, room, inFlight);
      cursor = claimed.cursor;
      return claimed.deliveries;
    };

    const emit = (delivery: JobDelivery): void => {
      inFlight.add(delivery.id);
      subscriber.next(delivery);
    };

    void (async () => {
      try {
        await createGroup(redis, stream, group);
        state.readerId = await reader.call('CLIENT', 'ID');
        while (!closed && !state.stopped) {
          const again = redo.shift();
          if (again) {
            subscriber.next(again);
            continue;
          }
          // While the service is down, one job at most, to find out when it is back.
          const roomNow = (): number => (state.down ? (inFlight.size === 0 ? 1 : 0) : limit - inFlight.size);
          let room = roomNow();
          if (room <= 0) {
            await state.waitForPoke();
            continue;
          }
          if (!state.down && performance.now() - lastClaim >= claimIdle / 2) {
            lastClaim = performance.now();
            let claimed: JobDelivery[];
            state.reading = true;
            try {
              claimed = await claim(room);
            } catch (err) {
              state.readDone();
              if (!isNoGroup(err)) throw err;
              options.onGroupLost?.();
              await createGroup(redis, stream, group);
              continue;
            }
            if (closed) return;
            for (const delivery of claimed) {
              await options.onClaim?.(delivery);
              if (closed) return;
              emit(delivery);
            }
            state.readDone();
            if (claimed.length > 0) continue;
            // Counted again: the service may have gone down while the claim step was awaited, and
            // then the read below takes the one probing job at most (not the room counted before).
            room = roomNow();
            if (room <= 0) continue;
          }
          // Draining ends after one empty read with nothing in flight: keep that read short.
          const wait = Math.max(1, Math.min(blockMs, Math.ceil(claimIdle / 2), options.drain ? 250 : Infinity));
          let entries: StreamEntry[];
          state.reading = true;
          try {
            entries = await readNew(reader, options, room, wait);
          } catch (err) {
            state.readDone();
            if (!isNoGroup(err)) throw err;
            // Redis lost the group (and with it the pending list): make it again and go on.
            options.onGroupLost?.();
            await createGroup(redis, stream, group);
            continue;
          }
          // Read after an unsubscription: they stay pending under this consumer and are claimed later.
          if (closed) return;
          for (const [id, fields] of entries) emit({ id, fields, deliveries: 1 });
          state.readDone();
          if (options.drain && entries.length === 0 && inFlight.size === 0) break;
        }
        if (!closed) subscriber.complete();
      } catch (err) {
        if (!closed) subscriber.error(err);
      } finally {
        // Whatever waits for the reads to settle is not kept waiting by a source that stopped.
        state.readDone();
      }
    })();

    return () => {
      closed = true;
      state.poke();
      reader.disconnect();
    };
  });

  return { jobs, control };
}

/** Up to `room` jobs new to the group (`XREADGROUP ... >`), waiting up to `wait` ms for one. */
async function readNew(reader: RedisConnection, { stream, group, consumer }: RedisJobSourceOptions, room: number, wait: number) {
  const reply = (await reader.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', room, 'BLOCK', wait, 'STREAMS', stream, '>')) as Array<
    [string, StreamEntry[]]
  > | null;
  return reply?.[0]?.[1] ?? [];
}

/**
 * The group is gone: `NOGROUP` on a read or claim, or `UNBLOCKED the stream key no longer exists`
 * on a blocking read whose stream was deleted under it (`FLUSHALL`, `DEL`).
 */
const isNoGroup = (err: unknown): boolean => err instanceof Error && /^(NOGROUP|UNBLOCKED)/.test(err.message);

/** Creates the consumer group (from the stream's start, and the stream too) unless it exists. */
async function createGroup(redis: RedisConnection, stream: string, group: string): Promise<void> {
  try {
    await redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
  }
}

/**
 * One `XAUTOCLAIM` step from `cursor`: jobs idle for `claimIdle` become this consumer's, with
 * their delivery counts (which `XAUTOCLAIM` does not return: asked of the pending list, one id
 * each). Jobs already in flight here are left out, and their delivery is not spent: the step
 * claims with `JUSTID`, which counts no delivery, and only the jobs it will run are then claimed
 * again with `XCLAIM` (which counts one and returns their fields). Without that, a job of ours
 * whose touch came late (an event loop held up past `claimIdle`, as on a loaded machine) went to
 * the dead-letter stream one delivery early.
 */
async function claimIdleJobs(
  redis: RedisConnection,
  { stream, group, consumer, claimIdle }: RedisJobSourceOptions,
  cursor: string,
  room: number,
  inFlight: ReadonlySet<string>,
): Promise<{ cursor: string; deliveries: JobDelivery[] }> {
  const reply = (await redis.call('XAUTOCLAIM', stream, group, consumer, claimIdle, cursor, 'COUNT', room, 'JUSTID')) as [
    string,
    unknown[],
    string[]?,
  ];
  const ids = reply[1].filter((id): id is string => typeof id === 'string' && !inFlight.has(id));
  if (ids.length === 0) return { cursor: reply[0], deliveries: [] };
  // Ours since the step above (its idle time reset, so no one else claims it meanwhile): min-idle 0.
  const claimed = (await redis.call('XCLAIM', stream, group, consumer, 0, ...ids)) as unknown[];
  const entries = claimed.filter((e): e is StreamEntry => Array.isArray(e) && typeof e[0] === 'string' && Array.isArray(e[1]));
  // Entries deleted from the stream (XDEL, trimming) come back empty or not at all (Redis 7 drops
  // them from the pending list itself): nothing to classify, so acknowledge them.
  const returned = new Set(entries.map(([id]) => id));
  const gone = ids.filter((id) => !returned.has(id));
  if (gone.length > 0) await redis.call('XACK', stream, group, ...gone);
  const counts = await Promise.all(
    entries.map(async ([id]) => {
      const rows = (await redis.call('XPENDING', stream, group, id, id, 1)) as Array<[string, string, number, number]>;
      return Number(rows[0]?.[3] ?? 1);
    }),
  );
  return { cursor: reply[0], deliveries: entries.map(([id, fields], i) => ({ id, fields, deliveries: counts[i] })) };
}
