import type { PipelineContext } from '../pipelineContext';
import type { RetryCapability, RetryTicket } from '../results';
import type { ClassifyLedger, ImageRecord } from './ledger';

/** What a retry capability needs of its session. */
export interface RetryHooks<R> {
  readonly ledger: ClassifyLedger<R>;
  readonly context: PipelineContext | undefined;
  /** `'over'`: the session ended; `'dead'`: its transport gave up; `'live'`: it can still send. */
  state(): 'live' | 'dead' | 'over';
  /** The image leaves: its failure was final (give back its credit, see if the session is done). */
  letGo(rec: ImageRecord<R>): void;
  /** Sends the reserved image again (or fails it at once if the transport died meanwhile). */
  resend(rec: ImageRecord<R>): void;
}

/**
 * The capability a sent image carries (see {@link RetryCapability}): `reserve()` works while the
 * image is settled (during the delivery of its failure) or held for the retry stage's decision
 * (any time later); `release()` lets a held image go. A retry stage calls exactly one of them
 * for a held image.
 */
export function retryCapability<R>(id: string, hooks: RetryHooks<R>): RetryCapability {
  const { ledger } = hooks;
  const release = (): void => {
    const rec = ledger.get(id);
    if (rec?.state === 'held' && ledger.remove(rec)) hooks.letGo(rec);
  };
  const reserve = (): RetryTicket | undefined => {
    const rec = ledger.get(id);
    // Refused when nothing can be sent any more: the failure it came with is final. A held image
    // stays until `release()`, which the retry stage calls after passing the failure on (letting
    // go first could complete the session, and the stream, before the failure is out).
    if (!rec || hooks.state() !== 'live' || !ledger.reserve(rec)) return undefined;
    let used = false;
    const act = (send: boolean): void => {
      if (used || ledger.get(id) !== rec || rec.state !== 'reserved') return;
      used = true;
      if (send) hooks.resend(rec);
      else if (ledger.remove(rec)) hooks.letGo(rec);
    };
    return { send: () => act(true), cancel: () => act(false) };
  };
  return { ...(hooks.context ? { context: hooks.context } : {}), reserve, release };
}
