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
