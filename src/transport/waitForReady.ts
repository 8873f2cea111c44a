import { backoffDelay, type Backoff } from '../core/backoff';
import { InvalidOptionError } from '../core/invalidOptionError';
import type { ListDeploymentsResponse } from '../contract/messages';
import { AthenaTransportError } from './errors';
import type { AthenaClient } from './types';

/** Options of {@link waitForReady}. */
export interface WaitForReadyOptions {
  /** How long to wait for the server to answer, in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Cancels the wait: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Between tries of {@link waitForReady}: 100 ms doubling to 1 s, half of it jittered. */
const READY_BACKOFF: Backoff = { initialDelay: 100, maxDelay: 1_000, jitter: 'equal' };

/**
 * A first check before any work: resolves with the server's deployments once it answers
 * `ListDeployments`, or rejects within `timeoutMs` (default 10 s) with the cause, so that a wrong
 * address, a TLS mismatch or a refused token is one error at the start rather than a failure per
 * image after the pipeline's `giveUpAfter` (60 s). A server that is not up yet (`UNAVAILABLE`,
 * as while a container starts) is asked again until the time is up; a refused credential
 * (`UNAUTHENTICATED`, `PERMISSION_DENIED`) or a token that cannot be had rejects at once.
 *
 * @example
 * ```ts
 * const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure() });
 * await waitForReady(client, { timeoutMs: 5_000 }); // throws: nothing listening, refused token, ...
 * ```
 */
export async function waitForReady(
  client: Pick<AthenaClient, 'listDeployments'>,
  options: WaitForReadyOptions = {},
): Promise<ListDeploymentsResponse> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw new InvalidOptionError(`waitForReady: timeoutMs must be a positive number, got ${timeoutMs}`);
  const end = performance.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    const left = Math.max(1, Math.round(end - performance.now()));
    try {
      return await client.listDeployments({ deadline: left, signal: options.signal });
    } catch (err) {
      // Only a server that is not there yet is worth asking again; anything else says what to fix.
      const notYet = err instanceof AthenaTransportError && err.code === 'UNAVAILABLE';
      const delay = backoffDelay(READY_BACKOFF, attempt, Math.random);
      if (!notYet || performance.now() + delay >= end) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
