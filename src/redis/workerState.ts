import type { Subject } from 'rxjs';
import { withClassifyEvents } from '../metrics/withClassifyEvents';
import { pipelineMetrics } from '../metrics/pipelineMetrics';
import type { ClassifyEvent, ClassifyImagesOptions, ClassifyTransport, PipelineObserver } from '../index';
import type { JobSourceControl } from './jobSource';
import type { JobRef, WorkerEvent } from './outcomes';

/**
 * What a running worker knows of itself, kept up to date while it runs: for a status line, a
 * supervisor's health probe, metrics, and the message on a stop that left work undone. Pass one
 * from {@link workerStats} as `redisWorker`'s `stats` and read it whenever you like.
 */
export interface WorkerStats {
  /** Jobs read or claimed and not yet written back: they are pending in the group under this worker. */
  held: number;
  /** Whether the Athena service is unreachable right now (the worker then reads no new job). */
  athenaDown: boolean;
  /** Results written (successes and final failures, dead letters included). */
  written: number;
  /** Jobs moved to the dead-letter stream. */
  deadLettered: number;
}

/** A fresh {@link WorkerStats}, all at zero. */
export function workerStats(): WorkerStats {
  return { held: 0, athenaDown: false, written: 0, deadLettered: 0 };
}

/**
 * The worker stopped because the Athena service could not be reached for longer than its
 * `giveUpAfter` (or refused the stream for good, e.g. `UNAUTHENTICATED`). The jobs it held were
 * not written back: they stay pending in the group and other workers claim them.
 */
export class WorkerGaveUpError extends Error {
  /** `WORKER_GAVE_UP`. */
  readonly code = 'WORKER_GAVE_UP';
  constructor(
    /** Jobs left pending in the group. */
    readonly leftPending: number,
    cause: unknown,
  ) {
    super(
      `the Athena service could not be used (${cause instanceof Error ? cause.message : String(cause)}); ${leftPending} ${
        leftPending === 1 ? 'job stays' : 'jobs stay'
      } pending for other workers`,
      { cause },
    );
    this.name = 'WorkerGaveUpError';
  }
}

/**
 * The service's state, from the classify events: down at the first break, back at the first
 * answer after it (a reopened stream alone proves nothing: it opens before the server answers),
 * given up when the stream fails for good (`giveUpAfter`, or a refusal such as `UNAUTHENTICATED`).
 */
export function watchService(stats: WorkerStats, control: JobSourceControl, states: Subject<WorkerEvent>) {
  let gaveUp: { error: unknown } | undefined;
  const onEvent = (event: ClassifyEvent<unknown>): void => {
    // Said once the read on its way (if any) is back: "the jobs held stay pending" then names all
    // that Redis gave this worker, not all but the few a read was still bringing.
    if (event.kind === 'connection' && event.state === 'reconnecting' && !stats.athenaDown) {
      stats.athenaDown = true;
      const message = messageOf(event.error);
      control.setOutage(true, () => states.next({ kind: 'outage', dependency: 'athena', state: 'down', message }));
    } else if (event.kind === 'response' && stats.athenaDown) {
      stats.athenaDown = false;
      control.setOutage(false, () => states.next({ kind: 'outage', dependency: 'athena', state: 'up', message: 'answering again' }));
    } else if (event.kind === 'connection' && event.state === 'failed') {
      gaveUp = { error: event.error };
      control.stop();
    }
  };
  return { onEvent, gaveUp: () => gaveUp };
}

/**
 * The observer given to `classifyImages`: the caller's metrics (or what `classifyImages` records
 * by default, made here), with `onEvent` told of every classify event.
 */
export function watchedObserver(
  client: ClassifyTransport,
  options: { readonly metrics?: PipelineObserver; readonly pipeline?: Omit<ClassifyImagesOptions<JobRef>, 'window'> },
  onEvent: (event: ClassifyEvent<unknown>) => void,
): { observer: PipelineObserver; dispose: () => void } {
  const pipeline = options.pipeline ?? {};
  const given = options.metrics ?? (pipeline.metrics === false ? undefined : pipeline.metrics);
  const own =
    given === undefined && pipeline.metrics !== false
      ? pipelineMetrics({
          deploymentId: pipeline.classify?.deploymentId ?? client.deploymentId,
          affiliate: pipeline.classify?.affiliate ?? client.affiliate,
        })
      : undefined;
  return { observer: withClassifyEvents(given ?? own, onEvent), dispose: () => own?.dispose() };
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
