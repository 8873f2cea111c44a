/**
 * Why an input was never read: the transport to the service had been given up (the outage budget
 * spent) before its turn came. A preparation step throws it instead of reading the input, and the
 * input leaves the pipeline as a `NOT_ATTEMPTED` failure, so nothing is dropped silently and
 * nothing is read or decoded in vain.
 */
export class NotAttemptedError extends Error {
  readonly code = 'NOT_ATTEMPTED' as const;

  constructor(
    message = 'not read: the stream to the Athena service had been given up before this image was sent (the outage outlasted the budget)',
  ) {
    super(message);
    this.name = 'NotAttemptedError';
  }
}
