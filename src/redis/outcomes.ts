import type { ClassificationResult } from '../index';
import type { RedisConnection } from './connection';
import { encodeResult, type JobErrorCode, type JobFailure, type JobResult } from './jobs';
import { commit, LOST } from './scripts';

/** What travels with each image through the pipeline: the job it came from. */
export interface JobRef {
  /** The job's entry id in the jobs stream. */
  readonly id: string;
  /** How many times the group has delivered the job, this delivery included. */
  readonly deliveries: number;
  /** The caller's `fields` of the job. */
  readonly fields: Readonly<Record<string, unknown>> | undefined;
  /** The job's JSON as the producer wrote it (kept for the dead-letter entry). */
  readonly entry: string;
}

/**
 * What the worker did with one job (one event per delivery it took: `written`, `released`,
 * `dead-lettered`, `superseded`, `dropped` or `left`), and changes of its state (`outage`,
 * `group-lost`).
 */
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
  | { readonly kind: 'superseded'; readonly job: string }
  /**
   * The job is no longer in Redis (the stream, its group or the entry was lost: Redis restarted
   * without persistence, the stream was deleted or trimmed): its result was not written.
   */
  | { readonly kind: 'dropped'; readonly job: string }
  /**
   * Left pending in the group without a result and without spending a delivery: the service was
   * given up (`giveUpAfter`) before the job's image got an answer. Another worker claims it.
   */
  | { readonly kind: 'left'; readonly job: string; readonly deliveries: number }
  /** The Athena service became unreachable (`down`: no new job is read) or answers again (`up`). Once per change. */
  | { readonly kind: 'outage'; readonly dependency: 'athena'; readonly state: 'down' | 'up'; readonly message: string }
  /** The consumer group was gone (Redis lost its data) and was created again. */
  | { readonly kind: 'group-lost'; readonly message: string };

/** What is to be done with a job once its fate is known. */
export type Outcome =
  | { readonly kind: 'result'; readonly result: JobResult }
  | { readonly kind: 'release'; readonly failure: JobFailure; readonly ref: JobRef }
  | { readonly kind: 'dead'; readonly result: JobFailure; readonly entry: string }
  /** Not a verdict on the image (the service was given up): left pending, nothing written. */
  | { readonly kind: 'leave'; readonly ref: JobRef };

/** Where one worker writes, and as whom. */
export interface OutcomeContext {
  readonly redis: RedisConnection;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly results: string;
  readonly deadLetter: string;
  readonly maxDeliveries: number;
}

/** The key that holds a job's history (one JSON line per event) until its result is written. */
export const historyKey = (stream: string, id: string): string => `${stream}:history:${id}`;

/** Appends one event to a job's history. */
export async function appendHistory(ctx: OutcomeContext, id: string, event: Record<string, unknown>): Promise<void> {
  await ctx.redis.call(
    'APPEND',
    historyKey(ctx.stream, id),
    JSON.stringify({ ...event, consumer: ctx.consumer, at: new Date().toISOString() }) + '\n',
  );
}

function base(ctx: OutcomeContext, ref: JobRef, correlationId?: string, attempts = 0) {
  return {
    job: ref.id,
    ...(ref.fields !== undefined ? { fields: ref.fields } : {}),
    ...(correlationId !== undefined ? { correlationId } : {}),
    consumer: ctx.consumer,
    deliveries: ref.deliveries,
    attempts,
  };
}

/** A job that could not be taken (malformed, too large, outside the root): its failure result. */
export function jobErrorOutcome(ctx: OutcomeContext, ref: JobRef, code: JobErrorCode, message: string): Outcome {
  return { kind: 'result', result: { ...base(ctx, ref), kind: 'failure', code, message, retryable: false, stage: 'job' } };
}

/** A job to move to the dead-letter stream, `last` saying what went wrong last. */
export function deadOutcome(ctx: OutcomeContext, ref: JobRef, last: string): Outcome {
  return {
    kind: 'dead',
    entry: ref.entry,
    result: {
      ...base(ctx, ref),
      kind: 'failure',
      code: 'JOB_DEAD_LETTERED',
      message: `delivered ${ref.deliveries} times without a result${last ? ` (last: ${last})` : ''}; moved to ${ctx.deadLetter}`,
      retryable: false,
      stage: 'job',
    },
  };
}

/** A classification result as the job's outcome: written, or released when it may pass later. */
export function resultOutcome(ctx: OutcomeContext, result: ClassificationResult<JobRef>): Outcome {
  const ref = result.ref as JobRef;
  if (result.kind === 'success') {
    return {
      kind: 'result',
      result: { ...base(ctx, ref, result.correlationId, result.attempts), kind: 'success', classifications: result.classifications },
    };
  }
  const failure: JobFailure = {
    ...base(ctx, ref, result.correlationId, result.attempts),
    kind: 'failure',
    code: result.code,
    message: result.message,
    retryable: result.retryable,
    stage: result.stage,
  };
  return failure.retryable ? { kind: 'release', failure, ref } : { kind: 'result', result: failure };
}

/**
 * Carries an outcome out in Redis: a result is written and the job acknowledged in one
 * conditional step (see `COMMIT_SCRIPT`); a released job gets its failure added to its history
 * and stays pending (or is dead-lettered when it has had its `maxDeliveries`); a dead job goes to
 * the dead-letter stream with its history, and its result is written in the same step.
 */
export async function writeOutcome(ctx: OutcomeContext, outcome: Outcome): Promise<WorkerEvent> {
  if (outcome.kind === 'leave') return { kind: 'left', job: outcome.ref.id, deliveries: outcome.ref.deliveries };
  if (outcome.kind === 'release') {
    const f = outcome.failure;
    await appendHistory(ctx, f.job, { event: 'failed', deliveries: f.deliveries, attempts: f.attempts, code: f.code, message: f.message });
    if (f.deliveries < ctx.maxDeliveries) return { kind: 'released', job: f.job, deliveries: f.deliveries, failure: f };
    return writeOutcome(ctx, deadOutcome(ctx, outcome.ref, `${f.code}: ${f.message}`));
  }
  const { result } = outcome;
  const id = result.job;
  const keys = [ctx.stream, ctx.results, historyKey(ctx.stream, id), ctx.deadLetter] as const;
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
          ctx.consumer,
        ]
      : [];
  const wrote = await commit(ctx.redis, keys, [ctx.group, id, String(resultFields.length), ...resultFields, ...dead]);
  if (wrote === LOST) return { kind: 'dropped', job: id };
  if (wrote !== 1) return { kind: 'superseded', job: id };
  return outcome.kind === 'dead' ? { kind: 'dead-lettered', result: outcome.result } : { kind: 'written', result };
}
