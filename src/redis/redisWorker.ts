import { hostname } from 'node:os';
import { connect, filter, from, map, merge, mergeMap, Observable, take, type ObservableInput } from 'rxjs';
import {
  classifyImages,
  DEFAULT_WINDOW,
  InvalidOptionError,
  type ClassificationEvent,
  type ClassificationResult,
  type ClassifyImagesOptions,
  type ClassifyTransport,
  type ImageInput,
} from '../index';
import type { RedisConnection } from './connection';
import { entryFields, encodeResult, JOB_FIELD, parseJob, type JobFailure, type JobResult, type ParsedJob } from './jobs';
import { redisJobSource, type JobDelivery } from './jobSource';
import { commit } from './scripts';

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
  /** Options of the classification pipeline (`classifyImages`), except the window. */
  readonly pipeline?: Omit<ClassifyImagesOptions<JobRef>, 'window'>;
}

/** What travels with each image through the pipeline: the job it came from. */
export interface JobRef {
  readonly id: string;
  readonly deliveries: number;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
  /** The job's JSON as the producer wrote it (kept for the dead-letter entry). */
  readonly entry: string;
}

/** What the worker did with one job: one event per delivery it took. */
export type WorkerEvent =
  /** The result was appended to the results stream and the job acknowledged. */
  | { readonly kind: 'written'; readonly result: JobResult }
  /**
   * A failure that may pass on another try (`retryable`): the job stays pending, its failure is
   * added to its history, and a worker claims it after `claimIdle`.
   */
  | { readonly kind: 'released'; readonly job: string; readonly deliveries: number; readonly failure: JobFailure }
  /** Delivered `maxDeliveries` times without a result: moved to the dead-letter stream with its history, and a `JOB_DEAD_LETTERED` result written. */
  | { readonly kind: 'dead-lettered'; readonly result: JobFailure }
  /** Another worker wrote this job's result first (it had claimed the job from us): ours was dropped. */
  | { readonly kind: 'superseded'; readonly job: string };

type Outcome =
  | { readonly kind: 'result'; readonly result: JobResult }
  | { readonly kind: 'release'; readonly failure: JobFailure; readonly ref: JobRef }
  | { readonly kind: 'dead'; readonly result: JobFailure; readonly entry: string };

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
  const historyKey = (id: string): string => `${stream}:history:${id}`;
  const at = (): string => new Date().toISOString();

  return new Observable<WorkerEvent>((subscriber) => {
    const { jobs, control } = redisJobSource(redis, {
      stream,
      group,
      consumer,
      limit: window,
      claimIdle,
      blockMs,
      drain: options.drain ?? false,
      onClaim: (d) => appendHistory(d.id, { event: 'claimed', consumer, deliveries: d.deliveries, at: at() }),
    });

    const appendHistory = async (id: string, event: Record<string, unknown>): Promise<void> => {
      await redis.call('APPEND', historyKey(id), JSON.stringify(event) + '\n');
    };

    const base = (ref: JobRef, correlationId?: string, attempts = 0) => ({
      job: ref.id,
      ...(ref.fields !== undefined ? { fields: ref.fields } : {}),
      ...(correlationId !== undefined ? { correlationId } : {}),
      consumer,
      deliveries: ref.deliveries,
      attempts,
    });

    const deadOutcome = (ref: JobRef, last: string): Outcome => ({
      kind: 'dead',
      entry: ref.entry,
      result: {
        ...base(ref),
        kind: 'failure',
        code: 'JOB_DEAD_LETTERED',
        message: `delivered ${ref.deliveries} times without a result${last ? ` (last: ${last})` : ''}; moved to ${deadLetter}`,
        retryable: false,
        stage: 'job',
      },
    });

    const toOutcome = (result: ClassificationResult<JobRef>): Outcome => {
      const ref = result.ref as JobRef;
      if (result.kind === 'success') {
        return {
          kind: 'result',
          result: { ...base(ref, result.correlationId, result.attempts), kind: 'success', classifications: result.classifications },
        };
      }
      const failure: JobFailure = {
        ...base(ref, result.correlationId, result.attempts),
        kind: 'failure',
        code: result.code,
        message: result.message,
        retryable: result.retryable,
        stage: result.stage,
      };
      return failure.retryable ? { kind: 'release', failure, ref } : { kind: 'result', result: failure };
    };

    const finish = async (outcome: Outcome): Promise<WorkerEvent> => {
      const result = outcome.kind === 'release' ? outcome.failure : outcome.result;
      const id = result.job;
      try {
        if (outcome.kind === 'release') {
          const f = outcome.failure;
          await appendHistory(id, {
            event: 'failed',
            consumer,
            deliveries: f.deliveries,
            attempts: f.attempts,
            code: f.code,
            message: f.message,
            at: at(),
          });
          if (f.deliveries < maxDeliveries) return { kind: 'released', job: id, deliveries: f.deliveries, failure: f };
          return await finish(deadOutcome(outcome.ref, `${f.code}: ${f.message}`));
        }
        const keys = [stream, results, historyKey(id), deadLetter] as const;
        const resultFields = encodeResult(result);
        const dead =
          outcome.kind === 'dead'
            ? [
                'id',
                id,
                'entry',
                outcome.entry,
                'deliveries',
                String(result.deliveries),
                'reason',
                result.kind === 'failure' ? result.message : '',
                'consumer',
                consumer,
              ]
            : [];
        const wrote = await commit(redis, keys, [group, id, String(resultFields.length), ...resultFields, ...dead]);
        if (wrote !== 1) return { kind: 'superseded', job: id };
        return outcome.kind === 'dead' ? { kind: 'dead-lettered', result: outcome.result } : { kind: 'written', result };
      } finally {
        control.settle(id);
      }
    };

    interface Step {
      readonly ref: JobRef;
      readonly parsed: ParsedJob | undefined; // undefined: delivered too often, not even parsed
    }
    const isImage = (s: Step): s is Step & { parsed: Extract<ParsedJob, { ok: true }> } => s.parsed?.ok === true;

    const outcomes = jobs.pipe(
      map((d: JobDelivery): Step => {
        const entry = entryFields(d.fields)[JOB_FIELD] ?? '';
        const parsed = d.deliveries > maxDeliveries ? undefined : parseJob(d.fields, parseOptions);
        return { ref: { id: d.id, deliveries: d.deliveries, fields: parsed?.fields, entry }, parsed };
      }),
      connect((steps) =>
        merge(
          steps.pipe(
            filter((s) => s.parsed === undefined),
            map((s) => deadOutcome(s.ref, 'claimed from consumers that never finished it')),
          ),
          steps.pipe(
            filter((s) => s.parsed !== undefined && !s.parsed.ok),
            map((s): Outcome => {
              const p = s.parsed as Extract<ParsedJob, { ok: false }>;
              return {
                kind: 'result',
                result: { ...base(s.ref), kind: 'failure', code: p.code, message: p.message, retryable: false, stage: 'job' },
              };
            }),
          ),
          steps.pipe(
            filter(isImage),
            map((s): ImageInput<JobRef> => ({ source: s.parsed.source, ref: s.ref, correlationId: `${s.ref.id}/${s.ref.deliveries}` })),
            // A deployment of this worker's own, also when the client names one: answers to a
            // shared one would reach the wrong worker (see docs/scaling-out.md for the measurement).
            classifyImages<JobRef>(client, { ...options.pipeline, classify: { shared: false, ...options.pipeline?.classify }, window }),
            filter((e: ClassificationEvent<JobRef>): e is ClassificationResult<JobRef> => e.kind !== 'foreign'),
            map(toOutcome),
          ),
        ),
      ),
      mergeMap(finish),
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
