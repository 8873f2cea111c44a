import { Subject, type Observable } from 'rxjs';
import { WorkerGaveUpError, type RedisConnection, type WorkerEvent, type WorkerStats } from '../redis/index';
import { describeCallError } from './errors';
import type { Health } from './healthEndpoint';
import { EXIT, type CliIo } from './io';
import { formatDuration, rate } from './progress';
import type { RunStats } from './summary';

/** What `athena-rx worker` counts besides the results. */
export type WorkerCounts = Record<'released' | 'deadLettered' | 'superseded' | 'dropped' | 'left', number>;

/** How a worker run ended, for {@link finalReport}. */
export interface WorkerEnd {
  readonly failure?: unknown;
  readonly abandoned?: string;
  readonly counts: WorkerCounts;
  /** Jobs still held (pending under this worker) at the end. */
  readonly held: number;
  /** With --drain: the group's pending count at the end (undefined when it could not be asked). */
  readonly groupPending: number | undefined;
  readonly drain: boolean;
  readonly group: string;
  readonly address: string;
}

/** The lines after the summary, and the exit status: 0 only when nothing was left undone. */
export function finalReport(io: CliIo, r: WorkerEnd): number {
  const extra = [
    r.counts.released > 0 ? `${r.counts.released} released for another delivery` : '',
    r.counts.deadLettered > 0 ? `${r.counts.deadLettered} dead-lettered` : '',
    r.counts.superseded > 0 ? `${r.counts.superseded} written first by another worker` : '',
    r.counts.dropped > 0 ? `${r.counts.dropped} dropped (no longer in Redis: it lost its data, or the stream was deleted or trimmed)` : '',
  ].filter((s) => s !== '');
  if (extra.length > 0) io.stderr.write(`jobs: ${extra.join(', ')}\n`);
  if (r.failure !== undefined) {
    const why =
      r.failure instanceof WorkerGaveUpError
        ? r.failure.message
        : `${describeCallError(r.failure, r.address)}; ${pendingText(r.held)} for the other workers`;
    io.stderr.write(`athena-rx worker: stopped: ${why}\n`);
    return EXIT.failed;
  }
  if (r.abandoned !== undefined) {
    io.stderr.write(`athena-rx worker: ${r.abandoned}; ${pendingText(r.held)} for the other workers\n`);
    return EXIT.failed;
  }
  if (r.drain) {
    const undone = [
      r.groupPending === undefined
        ? 'the group could not be asked what is pending'
        : r.groupPending > 0
          ? `${r.groupPending} ${r.groupPending === 1 ? 'job' : 'jobs'} still pending in group ${r.group}`
          : '',
      r.counts.released > 0 ? `${r.counts.released} released without a result` : '',
    ].filter((s) => s !== '');
    if (undone.length > 0) {
      io.stderr.write(`athena-rx worker: drained, but not done: ${undone.join(', ')}\n`);
      return EXIT.failed;
    }
  }
  return EXIT.ok;
}

/** Ready when Redis and the service both answer and the worker is not stopping. */
export function healthOf(stats: WorkerStats, state: { readonly down: boolean; readonly stopping: boolean }): Health {
  if (state.stopping) return { ready: false, reason: 'stopping' };
  if (state.down) return { ready: false, reason: 'redis unreachable' };
  if (stats.athenaDown) return { ready: false, reason: 'athena unreachable' };
  return { ready: true, reason: `ok: ${stats.held} jobs held` };
}

const pendingText = (n: number): string => `${n} ${n === 1 ? 'job stays' : 'jobs stay'} pending`;

/** The group's pending count (`XPENDING` summary), or undefined when Redis does not answer within 2 s. */
export async function pendingInGroup(redis: RedisConnection, stream: string, group: string): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 2_000)));
  try {
    const reply = await Promise.race([redis.call('XPENDING', stream, group).catch(() => undefined), timeout]);
    return Array.isArray(reply) ? Number(reply[0]) : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** What stopping needs to know: what the worker holds, whether Redis answers, and how long to wait. */
export interface StopContext {
  readonly stats: WorkerStats;
  readonly redisState: { readonly down: boolean; stopping: boolean };
  readonly shutdownTimeoutMs: number;
}

/**
 * Runs the worker until it completes (`--drain`, or after the first SIGINT/SIGTERM once it has
 * written back what it held) or fails. After the first signal it has `shutdownTimeoutMs` to
 * finish (holding nothing, it is done at once); it leaves at once when Redis is gone (nothing
 * could be written back). A second signal leaves at once. Signals are watched for the real process only:
 * in-process callers (tests) get no process-wide listeners.
 */
export function runUntilStopped(
  io: CliIo,
  status: StatusLine,
  stop: StopContext,
  start: (until: Subject<void>) => Observable<WorkerEvent>,
  onEvent: (event: WorkerEvent) => void,
): Promise<{ failure?: unknown; abandoned?: string }> {
  return new Promise((done) => {
    const until = new Subject<void>();
    let signals = 0;
    let timer: NodeJS.Timeout | undefined;
    const real = io.stderr === process.stderr;
    const leave = (why: string): void => {
      subscription.unsubscribe();
      finish({ abandoned: why });
    };
    const onSignal = (): void => {
      signals++;
      if (signals > 1) return leave('left at once on a second signal');
      status.clear();
      stop.redisState.stopping = true;
      if (stop.redisState.down) return leave('stopping at once: Redis is unreachable, so nothing held could be written back');
      io.stderr.write(
        `stopping: finishing the ${stop.stats.held} ${stop.stats.held === 1 ? 'job' : 'jobs'} in flight within ${stop.shutdownTimeoutMs / 1000} s${stop.stats.athenaDown ? ', if the Athena service comes back' : ''} (signal again to leave them to other workers)\n`,
      );
      const late = `the jobs in flight were not finished within --shutdown-timeout ${stop.shutdownTimeoutMs / 1000} s`;
      // In an outage nothing could finish them: say so, or the supervisor's log blames the timeout.
      const why = (): string => (stop.stats.athenaDown ? `${late} (the Athena service is unreachable)` : late);
      timer = setTimeout(() => leave(why()), stop.shutdownTimeoutMs);
      until.next();
    };
    const finish = (outcome: { failure?: unknown; abandoned?: string }): void => {
      clearTimeout(timer);
      if (real) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      done(outcome);
    };
    if (real) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const subscription = start(until).subscribe({
      next: onEvent,
      error: (failure: unknown) => finish({ failure }),
      complete: () => finish({}),
    });
  });
}

export function count(
  event: WorkerEvent,
  stats: RunStats,
  counts: Record<'released' | 'deadLettered' | 'superseded' | 'dropped' | 'left', number>,
  io: CliIo,
  redisUrl: string,
): void {
  switch (event.kind) {
    case 'written':
    case 'dead-lettered': {
      const r = event.result;
      const where = typeof r.fields?.file === 'string' ? r.fields.file : r.job;
      if (r.kind === 'success') stats.addSuccess();
      else stats.addFailure(r.code, `${where}: ${r.message}`);
      if (event.kind === 'dead-lettered') counts.deadLettered++;
      break;
    }
    case 'released':
      counts.released++;
      break;
    case 'superseded':
      counts.superseded++;
      break;
    case 'dropped':
      counts.dropped++;
      break;
    case 'left':
      counts.left++;
      break;
    case 'outage':
      io.stderr.write(
        event.state === 'down'
          ? `athena: unreachable (${event.message}); waiting for it, reading no new job, the jobs held stay pending\n`
          : 'athena: answering again; reading jobs\n',
      );
      break;
    case 'group-lost':
      io.stderr.write(`redis ${redisUrl}: ${event.message}\n`);
      break;
  }
}
/**
 * The worker's live line on a terminal: results so far, failures, rate, time running. A worker
 * has no total, so no bar: `1234 results  3 failed  212 img/s  2 released  0:06`.
 */
export class StatusLine {
  private readonly enabled: boolean;
  private shown = '';
  private last = 0;

  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.enabled = stream.isTTY === true;
  }

  update(stats: RunStats, released: number, elapsedMs: number): void {
    if (!this.enabled || elapsedMs - this.last < 100) return;
    this.last = elapsedMs;
    const r = rate(stats.done, elapsedMs);
    const line = `${stats.done} results  ${stats.failed} failed  ${r === undefined ? '-' : r.toFixed(0)} img/s  ${released} released  ${formatDuration(elapsedMs)}`;
    this.stream.write(`\r${line}\x1b[K`);
    this.shown = line;
  }

  clear(): void {
    if (this.shown === '') return;
    this.stream.write('\r\x1b[K');
    this.shown = '';
  }
}
