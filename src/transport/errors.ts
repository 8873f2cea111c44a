import * as grpc from '@grpc/grpc-js';

/** Name of a gRPC status code, such as `'UNAVAILABLE'` (the keys of `grpc.status`). */
export type GrpcStatusName = keyof typeof grpc.status;

/**
 * Status codes after which opening the same call again can succeed: the fault lies with the
 * connection or the server's momentary state, not with the request.
 *
 * - `UNAVAILABLE`: no connection, server restarting or draining (the canonical retryable code).
 * - `DEADLINE_EXCEEDED`: the server was slow; a retry (maybe with a longer deadline) can pass.
 * - `RESOURCE_EXHAUSTED`: the server sheds load or rate-limits; retry after a back-off. Not when
 *   it reports a message over the size limit: see {@link isRetryableStatus}.
 * - `ABORTED`: gRPC's "retry at a higher level" code (a stream the server gave up on).
 *
 * `INTERNAL`, `CANCELLED` and `UNKNOWN` are retryable only when the stream was reset
 * (`RST_STREAM`, a dropped connection), which is a transport accident rather than a server verdict.
 * Everything else (`UNAUTHENTICATED`, `PERMISSION_DENIED`, `INVALID_ARGUMENT`, `NOT_FOUND`,
 * `UNIMPLEMENTED`, `FAILED_PRECONDITION`, ...) needs a change by the caller before a retry helps.
 */
const RETRYABLE: ReadonlySet<number> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
]);

const RESET_CAN_RETRY: ReadonlySet<number> = new Set([grpc.status.INTERNAL, grpc.status.CANCELLED, grpc.status.UNKNOWN]);

/** The wording grpc-js uses when the HTTP/2 stream or the connection under it went away. */
const STREAM_RESET = /RST_STREAM|stream (was )?reset|ECONNRESET|connection (dropped|closed)|GOAWAY|Connection reset/i;
/** grpc-js reports an oversized message as RESOURCE_EXHAUSTED; resending it fails the same way. */
const MESSAGE_TOO_LARGE = /message larger than max|exceeds? (the )?(max|maximum)/i;

/** Whether a call that ended with `status` and `details` can succeed when opened again. */
export function isRetryableStatus(status: number, details: string): boolean {
  if (status === grpc.status.RESOURCE_EXHAUSTED) return !MESSAGE_TOO_LARGE.test(details);
  if (RETRYABLE.has(status)) return true;
  return RESET_CAN_RETRY.has(status) && STREAM_RESET.test(details);
}

/** The name of a numeric gRPC status (`'UNKNOWN'` for a number outside the enum). */
export function statusName(status: number): GrpcStatusName {
  const name = grpc.status[status] as GrpcStatusName | undefined;
  return typeof name === 'string' ? name : 'UNKNOWN';
}

/** Metadata keys never copied into an error: they may hold credentials. */
const SECRET_KEY = /authorization|token|secret|password|cookie|api[-_]?key/i;

/**
 * A plain copy of gRPC metadata for logs and errors: credential-like keys are dropped and binary
 * (`-bin`) values are given as base64.
 */
export function safeMetadata(metadata: grpc.Metadata | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!metadata) return out;
  for (const [key, values] of Object.entries(metadata.getMap())) {
    if (SECRET_KEY.test(key)) continue;
    const all = metadata.get(key).map((v) => (typeof v === 'string' ? v : v.toString('base64')));
    out[key] = all.length > 0 ? all : [typeof values === 'string' ? values : values.toString('base64')];
  }
  return out;
}

/** Fields of an {@link AthenaTransportError}. */
export interface AthenaTransportErrorInit {
  readonly status: number;
  readonly details: string;
  readonly metadata?: Record<string, string[]>;
  /** Override the retry advice derived from the status. */
  readonly retryable?: boolean;
  readonly cause?: unknown;
}

/**
 * A gRPC call failed as a whole: the channel, the server or the call itself, never a single
 * image (per-image problems are values in the response stream).
 *
 * `retryable` says whether opening the call again, unchanged, can succeed; see
 * {@link isRetryableStatus} for the rule. The metadata is the server's trailers without
 * credential-like keys.
 */
export class AthenaTransportError extends Error {
  override readonly name = 'AthenaTransportError';
  /** The gRPC status name, e.g. `'UNAVAILABLE'`. */
  readonly code: GrpcStatusName;
  /** The numeric gRPC status, e.g. `14`. */
  readonly status: number;
  /** The status details the server (or grpc-js) gave. */
  readonly details: string;
  /** Whether a new attempt of the same call can succeed. */
  readonly retryable: boolean;
  /** Trailing metadata, secrets removed. */
  readonly metadata: Record<string, string[]>;

  constructor(init: AthenaTransportErrorInit) {
    const code = statusName(init.status);
    super(`Athena call failed: ${code}${init.details ? `: ${init.details}` : ''}`, { cause: init.cause });
    this.code = code;
    this.status = init.status;
    this.details = init.details;
    this.retryable = init.retryable ?? isRetryableStatus(init.status, init.details);
    this.metadata = init.metadata ?? {};
  }

  /** Wraps what grpc-js reports (a `ServiceError`, or any error thrown while starting a call). */
  static from(error: unknown): AthenaTransportError {
    if (error instanceof AthenaTransportError) return error;
    if (isServiceError(error)) {
      return new AthenaTransportError({
        status: error.code,
        details: error.details ?? '',
        metadata: safeMetadata(error.metadata),
        cause: error,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new AthenaTransportError({ status: grpc.status.UNKNOWN, details: message, cause: error });
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === 'number' && 'details' in error;
}

/** Codes of {@link AthenaAuthError}. */
export type AthenaAuthErrorCode =
  /** The token endpoint answered with a non-2xx status. */
  | 'TOKEN_REQUEST_FAILED'
  /** The token endpoint could not be reached (network error or timeout). */
  | 'TOKEN_ENDPOINT_UNREACHABLE'
  /** The token endpoint answered 2xx without a usable `access_token`. */
  | 'TOKEN_RESPONSE_INVALID'
  /** The token endpoint answered with a redirect, which is not followed (the request holds the secret). */
  | 'TOKEN_REDIRECT_REFUSED'
  /** An `http://localhost` token URL whose name resolves to an address that is not loopback: nothing was sent. */
  | 'TOKEN_URL_NOT_LOOPBACK';

/** Fields of an {@link AthenaAuthError}. */
export interface AthenaAuthErrorInit {
  readonly code: AthenaAuthErrorCode;
  readonly message: string;
  /** HTTP status of the token endpoint, when it answered. */
  readonly httpStatus?: number;
  /** The endpoint's OAuth `error` field. */
  readonly error?: string;
  /** The endpoint's OAuth `error_description` field. */
  readonly errorDescription?: string;
  readonly retryable: boolean;
  readonly cause?: unknown;
}

/**
 * Getting an access token failed. The message says what the token endpoint answered (status,
 * `error`, `error_description`); it never contains the client secret.
 */
export class AthenaAuthError extends Error {
  override readonly name = 'AthenaAuthError';
  readonly code: AthenaAuthErrorCode;
  readonly httpStatus?: number;
  readonly error?: string;
  readonly errorDescription?: string;
  /** True for network failures, 429 and 5xx answers; a 4xx needs other credentials. */
  readonly retryable: boolean;

  constructor(init: AthenaAuthErrorInit) {
    super(init.message, { cause: init.cause });
    this.code = init.code;
    this.httpStatus = init.httpStatus;
    this.error = init.error;
    this.errorDescription = init.errorDescription;
    this.retryable = init.retryable;
  }
}
