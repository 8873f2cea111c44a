import { hostname } from 'node:os';
import {
  connect,
  defer,
  filter,
  from,
  identity,
  map,
  merge,
  mergeMap,
  Observable,
  take,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import {
  bufferBatch,
  classify,
  correlate,
  DEFAULT_WINDOW,
  inFlightWindow,
  InvalidOptionError,
  pipelineContext,
  preprocess,
  retryByErrorCode,
  type ClassificationEvent,
  type ClassificationResult,
  type ClassifyImagesOptions,
  type ClassifyItem,
  type ClassifyTransport,
  type ImageInput,
  type PipelineMetrics,
} from '../index';
import type { RedisConnection } from './connection';
import { entryFields, JOB_FIELD, parseJob, type ParsedJob } from './jobs';
import { redisJobSource, type JobDelivery } from './jobSource';
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
  /** Relative job paths resolve against it, and every path must stay inside it. Default: paths as given (relative to the working directory). */
  readonly root?: string;
  /** Largest inline image, decoded bytes. Default `DEFAULT_MAX_INLINE_BYTES` (1 MiB). */
  readonly maxInlineBytes?: number;
  /** Complete once the stream has no new job and nothing is in flight here (batch runs). Default false. */
  readonly drain?: boolean;
  /** When it emits: stop reading, finish and write back what is in flight, then complete. */
  readonly until?: ObservableInput<unknown>;
  /** Options of the classification pipeline (as `classifyImages` takes them), except the window. */
  readonly pipeline?: Omit<ClassifyImagesOptions<JobRef>, 'window'>;
  /** Where the pipeline's metrics go (`pipelineMetrics()`, as `athena-rx worker --metrics-port` feeds it). Default none. */
  readonly metrics?: PipelineMetrics;
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
  const { stream, group } = options;
  const consumer = options.consumer ?? `${hostname()}-${process.pid}`;
  const results = options.results ?? `${stream}:results`;
  const deadLetter = options.deadLetter ?? `${stream}:dead`;
  const window = options.window ?? DEFAULT_WINDOW;
  const claimIdle = options.claimIdle ?? DEFAULT_CLAIM_IDLE;
  const maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
  const blockMs = options.blockMs ?? 2_000;
  for (const [name, value] of Object.entries({ stream, group, consumer, results, deadLetter })) {
    if (typeof value !== 'string' || value === '') throw new InvalidOptionError(`redisWorker: ${name} must be a non-empty string`);
  }
  checkInt('window', window, 1);
  checkInt('claimIdle', claimIdle, 10);
  checkInt('maxDeliveries', maxDeliveries, 1);
  checkInt('blockMs', blockMs, 1);
  const parseOptions = { root: options.root, maxInlineBytes: options.maxInlineBytes };
  const ctx: OutcomeContext = { redis, stream, group, consumer, results, deadLetter, maxDeliveries };

  return new Observable<WorkerEvent>((subscriber) => {
    const { jobs, control } = redisJobSource(redis, {
      stream,
      group,
      consumer,
      limit: window,
      claimIdle,
      blockMs,
      drain: options.drain ?? false,
      onClaim: (d) => appendHistory(ctx, d.id, { event: 'claimed', deliveries: d.deliveries }),
    });

    const outcomes = jobs.pipe(
      map((d: JobDelivery): Step => {
        const entry = entryFields(d.fields)[JOB_FIELD] ?? '';
        const parsed = parseJob(d.fields, parseOptions);
        return { ref: { id: d.id, deliveries: d.deliveries, fields: parsed.fields, entry }, parsed, dead: d.deliveries > maxDeliveries };
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
            map((s): ImageInput<JobRef> => ({ source: s.parsed.source, ref: s.ref, correlationId: `${s.ref.id}/${s.ref.deliveries}` })),
            classifyJobs(client, window, options.pipeline ?? {}, options.metrics),
            filter((e: ClassificationEvent<JobRef>): e is ClassificationResult<JobRef> => e.kind !== 'foreign'),
            map((result) => resultOutcome(ctx, result)),
          ),
        ),
      ),
      // Whatever happens to the write, the job no longer takes room here.
      mergeMap((outcome) => writeOutcome(ctx, outcome).finally(() => control.settle(jobOf(outcome)))),
    );

    const heartbeat = setInterval(() => void control.touch().catch(() => undefined), Math.max(10, Math.floor(claimIdle / 3)));
    const stopper =
      options.until === undefined
        ? undefined
        : from(options.until)
            .pipe(take(1))
            .subscribe(() => control.stop());
    const subscription = outcomes.subscribe(subscriber);
    return () => {
      clearInterval(heartbeat);
      stopper?.unsubscribe();
      subscription.unsubscribe();
    };
  });
}

/** One job on its way: the delivery's reference, the job as parsed, and whether it is dead. */
interface Step {
  readonly ref: JobRef;
  readonly parsed: ParsedJob;
  /** Delivered more than `maxDeliveries` times (by claims): dead-lettered without classifying. */
  readonly dead: boolean;
}

const jobOf = (outcome: Outcome): string => (outcome.kind === 'release' ? outcome.failure.job : outcome.result.job);

/**
 * The stages of `classifyImages` (preprocess -> bufferBatch -> classify -> correlate ->
 * retryByErrorCode over one window), with the metrics taps between them when `metrics` is given,
 * as the command line composes them.
 */
function classifyJobs(
  client: ClassifyTransport,
  size: number,
  options: Omit<ClassifyImagesOptions<JobRef>, 'window'>,
  metrics: PipelineMetrics | undefined,
): OperatorFunction<ImageInput<JobRef>, ClassificationEvent<JobRef>> {
  const { scheduler } = options;
  return (inputs) =>
    defer(() => {
      const window = inFlightWindow(size);
      // The explicit link between classify and its retry stage, one per subscription.
      const context = options.retry === false ? undefined : pipelineContext();
      metrics?.observeWindow(window);
      return inputs.pipe(
        preprocess<JobRef>({ ...options.preprocess, window, ...(scheduler ? { scheduler } : {}) }),
        bufferBatch<ClassifyItem<JobRef>>({ ...options.batch, scheduler }),
        // A deployment of this worker's own, also when the client names one: answers to a shared
        // one would reach the wrong worker (see docs/scaling-out.md for the measurement).
        classify<JobRef>(client, { shared: false, ...options.classify, window, scheduler, context }),
        metrics ? metrics.tapClassifyEvents<JobRef>() : identity,
        correlate<JobRef>({ stats: metrics?.correlateStats ?? options.stats }),
        context ? retryByErrorCode<JobRef>({ rules: options.retry || undefined, scheduler, random: options.random, context }) : identity,
        metrics ? metrics.tapResults<JobRef>() : identity,
      );
    });
}
