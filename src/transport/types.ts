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
export type ClassifyCall = (requests: Observable<ClassifyRequest>, options?: ClassifyCallOptions) => Observable<ClassifyResponse>;

/**
 * The write side of one `Classify` call, as {@link ClassifyCallOptions.onWriteState} reports it.
 *
 * The adapter cannot stop an Observable from pushing, so requests that arrive while grpc-js is
 * saturated wait in its queue (`queued`); a producer that must stay bounded (the operators do)
 * sends more only while `queued` is 0 and `waitingForDrain` is false.
 */
export interface ClassifyWriteState {
  /** Requests handed to grpc-js (`call.write`) so far. */
  readonly written: number;
  /** Of those, how many grpc-js has passed on (their write callbacks fired). */
  readonly flushed: number;
  /** Requests received from upstream and waiting in the adapter for `drain`. */
  readonly queued: number;
  /** Between a `write()` that returned false and the `drain` that follows. */
  readonly waitingForDrain: boolean;
  /** The request stream completed and the call was half-closed. */
  readonly halfClosed: boolean;
}

/** Per-call options of the `Classify` stream. */
export interface ClassifyCallOptions {
  /** Called synchronously on every change of the write side (write, flush, drain, half-close). */
  readonly onWriteState?: (state: ClassifyWriteState) => void;
}

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
  /**
   * When the token the next call would carry expires (epoch ms), if known. A stream keeps the
   * token it opened with, so `classify` opens a fresh stream ahead of this time.
   */
  credentialExpiresAt?(): number | undefined;
}

/** The full client returned by `createAthenaClient`. */
export interface AthenaClient extends ClassifyTransport {
  classifySingle(input: Partial<ClassificationInput>, options?: UnaryCallOptions): Promise<ClassificationOutput>;
  listDeployments(options?: UnaryCallOptions): Promise<ListDeploymentsResponse>;
  /** Closes every channel; calls in progress are cancelled. */
  close(): void;
}
