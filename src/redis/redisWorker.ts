import { hostname } from 'node:os';
import {
  concat,
  connect,
  defer,
  EMPTY,
  filter,
  from,
  map,
  merge,
  mergeMap,
  Observable,
  Subject,
  take,
  tap,
  throwError,
  type ObservableInput,
} from 'rxjs';
import {
  classifyImages,
  DEFAULT_WINDOW,
  InvalidOptionError,
  type ClassificationEvent,
  type ClassificationResult,
  type ClassifyImagesOptions,
  type ClassifyTransport,
  type ImageInput,
  type PipelineObserver,
} from '../index';
import { confinedPrepare, confinedReader } from './confinedRead';
import type { RedisConnection } from './connection';
import { entryFields, JOB_FIELD, parseJob, type ParsedJob, type ParseJobOptions } from './jobs';
import { redisJobSource, type JobDelivery, type JobSourceControl } from './jobSource';
import {
  appendHistory,
  deadOutcome,
  jobErrorOutcome,
  resultOutcome,
  writeOutcome,
  type JobRef,
  type Outcome,
  type OutcomeContext,
  type WorkerEvent,
} from './outcomes';
import { watchedObserver, watchService, WorkerGaveUpError, workerStats, type WorkerStats } from './workerState';

export type { JobRef, WorkerEvent } from './outcomes';

/** Default idle time (ms) after which a pending job is taken from a consumer presumed dead. */
export const DEFAULT_CLAIM_IDLE = 60_000;
/** Default deliveries of a job without a final result before it is dead-lettered. */
export const DEFAULT_MAX_DELIVERIES = 5;

/** Options of {@link redisWorker}. */
export interface RedisWorkerOptions {
  /** The jobs stream. */
  readonly stream: string;
  /** The consumer group; created (from the stream's start, `MKSTREAM`) when missing. */
  readonly group: string;
  /** This worker's name in the group; unique per live worker. Default `<hostname>-<pid>`. */
  readonly consumer?: string;
  /** Where results go. Default `<stream>:results`. */
  readonly results?: string;
  /** Where poison jobs go. Default `<stream>:dead`. */
  readonly deadLetter?: string;
  /**
   * Jobs read and not yet written back, which is also the pipeline's back-pressure window: no job
   * is read that the window could not take. Default `DEFAULT_WINDOW` (128).
   */
  readonly window?: number;
  /** A job pending this long (ms) on a consumer that stopped touching it is claimed. Default 60,000. */
  readonly claimIdle?: number;
  /** Deliveries without a final result before a job is dead-lettered. Default 5. */
  readonly maxDeliveries?: number;
  /** Longest blocking read (ms); also the longest wait to notice `until`. Default 2,000. */
  readonly blockMs?: number;
  /**
   * Relative job paths resolve against it, and every file read must lie inside it, symlinks
   * resolved (checked on the file as opened). Default: any path the process can read (the
   * command line requires `--root` or an explicit `--any-path`).
   */
  readonly root?: string;
  /** Largest inline image, decoded bytes. Default `DEFAULT_MAX_INLINE_BYTES` (1 MiB). */
  readonly maxInlineBytes?: number;
  /** Largest job entry without its inline image, bytes. Default `DEFAULT_MAX_JOB_BYTES` (64 KiB). */
  readonly maxJobBytes?: number;
  /**
   * How long (ms) the Athena service may stay unreachable before the worker gives up: it then
   * stops, leaves the jobs it holds pending for other workers, and errors with a
   * `WorkerGaveUpError`. Default: never; the worker waits for the service, reading no new job.
   */
  readonly giveUpAfter?: number;
  /** Figures the worker keeps up to date while it runs (`workerStats()`). */
  readonly stats?: WorkerStats;
  /** Complete once the stream has no new job and nothing is in flight here (batch runs). Default false. */
  readonly drain?: boolean;
  /** When it emits: stop reading, finish and write back what is in flight, then complete. */
  readonly until?: ObservableInput<unknown>;
  /**
   * Options of the classification pipeline (as `classifyImages` takes them), except the window.
   * Its `classify.reconnect` defaults to `{ giveUpAfter }` (see `giveUpAfter`), and `classify.shared` to false.
   */
  readonly pipeline?: Omit<ClassifyImagesOptions<JobRef>, 'window'>;
  /**
   * Where the pipeline's metrics go (`pipelineMetrics()`, as `athena-rx worker --metrics-port`
   * feeds it). Default: `pipeline.metrics`, else what `classifyImages` records by default.
   */
  readonly metrics?: PipelineObserver;
}

function checkInt(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new InvalidOptionError(`redisWorker: ${name} must be an integer >= ${min}, got ${value}`);
}

/**
 * A classification worker on a Redis stream: reads jobs through a consumer group, classifies them
 * with `classifyImages`, and for each job appends exactly one result to the results stream while
 * acknowledging the job in the same atomic step.
 *
 * Use it to spread classification over processes and machines: start as many workers as you
 * like on one stream and group; each job goes to one of them, and the jobs of a worker that dies
 * are claimed by the others after `claimIdle`.
 *
 * ```text
 * jobs stream:  -j1-j2-j3-----j4-------
 *               redisWorker(redis, client, { stream, group })
 * events:       -------w1--w3-w2----w4-    written (result appended + job acked), one per job
 * ```
 *
 * - A job that cannot be read (not JSON, no path or data, too large, outside `root`) gets a
 *   failure result with a `JOB_*` code at once; an image that cannot be prepared or classified
 *   gets the pipeline's failure (`SOURCE_UNREADABLE`, `UNSUPPORTED_FORMAT`, ...). Both are
 *   acknowledged: a bad job never blocks the stream.
 * - A failure that may pass later (`retryable`, after the pipeline's own retries) leaves the job
 *   pending for another delivery; after `maxDeliveries` deliveries the job goes to the dead-letter
 *   stream with its history, and its result says `JOB_DEAD_LETTERED`.
 * - Each worker classifies over a deployment of its own (the pipeline's default), so every
 *   answer comes back to the worker that holds the job; only the Redis stream is shared.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { fromEvent } from 'rxjs';
 * import { createAthenaClient, insecure } from 'athena-rx';
 * import { redisWorker } from 'athena-rx/redis';
 *
 * const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
 * const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure() });
 * redisWorker(redis, client, { stream: 'images', group: 'classifiers', until: fromEvent(process, 'SIGTERM') })
 *   .subscribe({ next: (e) => console.log(e.kind), complete: () => { redis.disconnect(); client.close(); } });
 * ```
 *
 * @param redis An ioredis client (`Redis` or `Cluster`); a second connection is made with `duplicate()` for blocking reads.
 * @param client The Athena client.
 * @param options.window Default 128.
 * @param options.claimIdle Default 60,000 ms.
 * @param options.maxDeliveries Default 5.
 * @param options.blockMs Default 2,000 ms.
 * @see enqueueJobs
 * @see classifyImages
 */
export function redisWorker(redis: RedisConnection, client: ClassifyTransport, options: RedisWorkerOptions): Observable<WorkerEvent> {
  const settings = checkOptions(options);
  const { stream, group, window } = settings;
  const reader = options.root === undefined ? undefined : confinedReader(options.root);
  const parseOptions = { root: reader?.root, maxInlineBytes: options.maxInlineBytes, maxJobBytes: options.maxJobBytes };
  const ctx: OutcomeContext = { redis, ...settings };
  const pipeline = options.pipeline ?? {};

  return new Observable<WorkerEvent>((subscriber) => {
    const stats = options.stats ?? workerStats();
    /** State changes (outages, a lost group), merged into the events. */
    const states = new Subject<WorkerEvent>();
    /** The deliveries held here, by job id: what to put through again after an answer lost to an outage. */
    const held = new Map<string, JobDelivery>();
    const { jobs, control } = redisJobSource(redis, {
      stream,
      group,
      consumer: settings.consumer,
      limit: window,
      claimIdle: settings.claimIdle,
      blockMs: settings.blockMs,
      drain: options.drain ?? false,
      onClaim: (d) => appendHistory(ctx, d.id, { event: 'claimed', deliveries: d.deliveries }),
      onGroupLost: () =>
        states.next({
          kind: 'group-lost',
          message: `the consumer group ${group} of ${stream} is gone (Redis lost its data: restarted without persistence, or the stream was deleted); created it again`,
        }),
    });
    const settle = (id: string): void => {
      held.delete(id);
      control.settle(id);
      stats.held = control.inFlight.size;
    };
    const watch = watchService(stats, control, states);
    const { observer, dispose } = watchedObserver(client, options, watch.onEvent);
    const classifyOptions: ClassifyImagesOptions<JobRef> = {
      ...pipeline,
      window,
      metrics: observer,
      classify: {
        // A deployment of this worker's own, also when the client names one: answers to a shared
        // one would reach the wrong worker (see docs/scaling-out.md for the measurement).
        shared: false,
        ...pipeline.classify,
        reconnect: pipeline.classify?.reconnect ?? { giveUpAfter: options.giveUpAfter ?? Infinity },
      },
      preprocess: { ...pipeline.preprocess, ...(reader ? { prepare: confinedPrepare(reader, pipeline.preprocess) } : {}) },
    };
    let leftCount = 0;

    const outcomes = jobs.pipe(
      map((d: JobDelivery): Step => {
        held.set(d.id, d);
        stats.held = control.inFlight.size;
        return stepOf(d, parseOptions, ctx.maxDeliveries);
      }),
      connect((steps) =>
        merge(
          steps.pipe(
            filter((s) => s.dead),
            map((s) => deadOutcome(ctx, s.ref, 'claimed from consumers that never finished it')),
          ),
          steps.pipe(
            filter((s): s is Step & { parsed: Extract<ParsedJob, { ok: false }> } => !s.dead && !s.parsed.ok),
            map((s) => jobErrorOutcome(ctx, s.ref, s.parsed.code, s.parsed.message)),
          ),
          steps.pipe(
            filter((s): s is Step & { parsed: Extract<ParsedJob, { ok: true }> } => !s.dead && s.parsed.ok),
            map(toInput),
            // The same composition as every other caller's: one engine, its not-attempted gate,
            // its retry link and its metrics come with it.
            classifyImages<JobRef>(client, classifyOptions),
            filter((e: ClassificationEvent<JobRef>): e is ClassificationResult<JobRef> => e.kind !== 'foreign'),
            mergeMap((result) => outcomesOf(ctx, result, { gaveUp: watch.gaveUp() !== undefined, held, control })),
          ),
        ),
      ),
      // Whatever happens to the write, the job no longer takes room here.
      mergeMap((outcome) =>
        writeOutcome(ctx, outcome).then(
          (event) => {
            settle(jobOf(outcome));
            if (event.kind === 'written' || event.kind === 'dead-lettered') stats.written++;
            if (event.kind === 'dead-lettered') stats.deadLettered++;
            if (event.kind === 'left') leftCount++;
            return event;
          },
          (err: unknown) => {
            settle(jobOf(outcome));
            throw err;
          },
        ),
      ),
    );
    const all = concat(
      // The states end with the outcomes: after the last job, nothing more can change.
      merge(states, outcomes.pipe(tap({ complete: () => states.complete() }))),
      defer(() => {
        const gaveUp = watch.gaveUp();
        return gaveUp === undefined ? EMPTY : throwError(() => new WorkerGaveUpError(stats.held + leftCount, gaveUp.error));
      }),
    );

    const heartbeat = setInterval(() => void control.touch().catch(() => undefined), Math.max(10, Math.floor(settings.claimIdle / 3)));
    const stopper =
      options.until === undefined
        ? undefined
        : from(options.until)
            .pipe(take(1))
            .subscribe(() => control.stop());
    const subscription = all.subscribe(subscriber);
    return () => {
      clearInterval(heartbeat);
      stopper?.unsubscribe();
      subscription.unsubscribe();
      dispose();
    };
  });
}

/** The options with their defaults, checked. */
function checkOptions(options: RedisWorkerOptions) {
  const { stream } = options;
  const names = {
    stream,
    group: options.group,
    consumer: options.consumer ?? `${hostname()}-${process.pid}`,
    results: options.results ?? `${stream}:results`,
    deadLetter: options.deadLetter ?? `${stream}:dead`,
  };
  for (const [name, value] of Object.entries(names)) {
    if (typeof value !== 'string' || value === '') throw new InvalidOptionError(`redisWorker: ${name} must be a non-empty string`);
  }
  // A results or dead-letter stream that is the jobs stream feeds every result back as a job.
  for (const name of ['results', 'deadLetter'] as const) {
    if (names[name] === stream)
      throw new InvalidOptionError(
        `redisWorker: ${name} must not be the jobs stream (${stream}): every entry written there would be read back as a job`,
      );
  }
  const numbers = {
    window: options.window ?? DEFAULT_WINDOW,
    claimIdle: options.claimIdle ?? DEFAULT_CLAIM_IDLE,
    maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
    blockMs: options.blockMs ?? 2_000,
  };
  checkInt('window', numbers.window, 1);
  checkInt('claimIdle', numbers.claimIdle, 10);
  checkInt('maxDeliveries', numbers.maxDeliveries, 1);
  checkInt('blockMs', numbers.blockMs, 1);
  if (options.giveUpAfter !== undefined && !(options.giveUpAfter > 0))
    throw new InvalidOptionError(`redisWorker: giveUpAfter must be a number of ms > 0, got ${options.giveUpAfter}`);
  return { ...names, ...numbers };
}

/** A delivery as a job on its way: parsed, and dead when delivered more than `maxDeliveries` times. */
function stepOf(d: JobDelivery, parseOptions: ParseJobOptions, maxDeliveries: number): Step {
  const parsed = parseJob(d.fields, parseOptions);
  // An entry too large is not kept (not even for the dead-letter stream).
  const entry = parsed.ok || parsed.code !== 'JOB_TOO_LARGE' ? (entryFields(d.fields)[JOB_FIELD] ?? '') : '';
  const ref = { id: d.id, deliveries: d.deliveries, fields: parsed.fields, entry };
  return { ref, parsed, dead: d.deliveries > maxDeliveries, again: d.again ?? 0 };
}

const toInput = (s: Step & { parsed: Extract<ParsedJob, { ok: true }> }): ImageInput<JobRef> => ({
  source: s.parsed.source,
  ref: s.ref,
  correlationId: `${s.ref.id}/${s.ref.deliveries}${s.again > 0 ? `.${s.again}` : ''}`,
});

/**
 * What becomes of a job given its image's result. A failure of the transport is not a verdict on
 * the image (an answer lost to an outage, or never sent because the service was given up): such
 * a job spends no delivery. It goes through again once (an answer lost while the stream was
 * down), else it is left pending for another worker. Every other result is the job's own.
 */
function outcomesOf(
  ctx: OutcomeContext,
  result: ClassificationResult<JobRef>,
  worker: { gaveUp: boolean; held: ReadonlyMap<string, JobDelivery>; control: JobSourceControl },
): Outcome[] {
  if (result.kind !== 'failure' || result.stage !== 'transport') return [resultOutcome(ctx, result)];
  const ref = result.ref as JobRef;
  if (!worker.gaveUp && result.code === 'RESPONSE_TIMEOUT') {
    const delivery = worker.held.get(ref.id);
    if (delivery && (delivery.again ?? 0) < 1 && worker.control.again(delivery)) return [];
    if (delivery && (delivery.again ?? 0) >= 1) return [resultOutcome(ctx, result)];
  }
  return [{ kind: 'leave', ref }];
}

/** One job on its way: the delivery's reference, the job as parsed, and whether it is dead. */
interface Step {
  readonly ref: JobRef;
  readonly parsed: ParsedJob;
  /** Delivered more than `maxDeliveries` times (by claims): dead-lettered without classifying. */
  readonly dead: boolean;
  /** Times put through again within this delivery (see `JobDelivery.again`). */
  readonly again: number;
}

const jobOf = (outcome: Outcome): string =>
  outcome.kind === 'release' ? outcome.failure.job : outcome.kind === 'leave' ? outcome.ref.id : outcome.result.job;
