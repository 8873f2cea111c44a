/** Why the in-process server or one of its helpers refused. */
export type AthenaTestingErrorCode =
  /** An option of `startAthenaServer` is out of range or malformed. */
  | 'INVALID_OPTION'
  /** The server could not listen on the requested host and port. */
  | 'BIND_FAILED'
  /** A helper got an argument it cannot use (for example pixels that are not 448x448x3). */
  | 'INVALID_ARGUMENT';

/** Errors thrown by `athena-rx/testing` itself (not the gRPC statuses it sends to clients). */
export class AthenaTestingError extends Error {
  readonly code: AthenaTestingErrorCode;
  constructor(code: AthenaTestingErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AthenaTestingError';
    this.code = code;
  }
}
