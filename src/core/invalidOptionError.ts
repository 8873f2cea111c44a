/**
 * An option or argument a function cannot work with (a window of 0 credits, a Brotli quality of
 * 12, an empty token). Thrown at once, when the operator or client is made, never per image;
 * `classify` emits it as its error notification for a deployment id of the wrong length or a
 * batch item that is neither a prepared image nor a failure (programming errors).
 * A `RangeError`, so code that already catches those keeps working.
 */
export class InvalidOptionError extends RangeError {
  readonly code = 'INVALID_OPTION' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOptionError';
  }
}
