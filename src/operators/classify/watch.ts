import type { ClassifyResponse } from '../../contract/messages';
import type { CircuitBreaker } from '../../reliability/circuitBreaker';
import type { ImageRecord } from './ledger';

/**
 * Tells the breaker how a response went: a request refused as a whole (`global_error`) or an
 * answer with a server-side transient error (`MODEL_ERROR`, `UNSPECIFIED`) is a failure; any other
 * answer shows the service working. Per-image verdicts about the image itself (too large, bad id,
 * affiliate) are not the service failing.
 */
export function recordOutcome(breaker: CircuitBreaker | undefined, response: ClassifyResponse): void {
  if (!breaker) return;
  const transient = (code: string | undefined): boolean => code === 'ERROR_CODE_MODEL_ERROR' || code === 'ERROR_CODE_UNSPECIFIED';
  if (response.globalError || (response.outputs ?? []).some((o) => transient(o.error?.code))) breaker.recordFailure();
  else breaker.recordSuccess();
}

/**
 * When to replace a stream whose token expires at `expiresAt`: `rotateBefore` ahead of it, but
 * no more than a quarter of the lifetime left (a short-lived token is still used for most of its
 * life). `undefined` when the expiry is unknown.
 */
export function rotationDelay(expiresAt: number | undefined, now: number, rotateBefore: number): number | undefined {
  if (expiresAt === undefined || !Number.isFinite(expiresAt)) return undefined;
  const remaining = expiresAt - now;
  return Math.max(0, remaining - Math.min(rotateBefore, remaining / 4));
}

/**
 * How long until the images of a request are late in the response window (`after` ms from their
 * first send), or `undefined` when the response timeout comes first (the default: 120 s against
 * 30 min), so no timer is set at all.
 */
export function lateDelay(recs: readonly ImageRecord<unknown>[], now: number, after: number, responseTimeout: number): number | undefined {
  const due = Math.min(...recs.map((r) => (r.firstSentAt ?? now) + after)) - now;
  return due >= responseTimeout ? undefined : Math.max(0, due);
}
