import type { Observable } from 'rxjs';
import type {
  ClassificationInput,
  ClassificationOutput,
  ClassifyRequest,
  ClassifyResponse,
  ListDeploymentsResponse,
} from '../contract/messages';

/**
 * The duplex `Classify` call as an Observable: subscribing opens the call (with fresh
 * credentials), each request is written in order (a write that returns false waits for `drain`),
 * completing `requests` half-closes the call, unsubscribing cancels it, and a gRPC failure ends
 * the Observable with an `AthenaTransportError`.
 */
export type ClassifyCall = (requests: Observable<ClassifyRequest>) => Observable<ClassifyResponse>;

/** Per-call options of the unary RPCs. */
export interface UnaryCallOptions {
  /** Milliseconds from now, or an absolute `Date`. */
  readonly deadline?: number | Date;
  readonly signal?: AbortSignal;
}

/**
 * What the operators need from a client. `createAthenaClient` returns one over gRPC; tests of
 * operator timing may supply their own.
 */
export interface ClassifyTransport {
  readonly classify: ClassifyCall;
  /** The deployment id the client was configured with, if any. */
  readonly deploymentId?: string;
  /** The affiliate the client was configured with, if any. */
  readonly affiliate?: string;
}

/** The full client returned by `createAthenaClient`. */
export interface AthenaClient extends ClassifyTransport {
  classifySingle(input: Partial<ClassificationInput>, options?: UnaryCallOptions): Promise<ClassificationOutput>;
  listDeployments(options?: UnaryCallOptions): Promise<ListDeploymentsResponse>;
  /** Closes every channel; calls in progress are cancelled. */
  close(): void;
}
