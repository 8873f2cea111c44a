import { AthenaAuthError, AthenaTransportError } from '../transport/index';

/**
 * One line for stderr about a failure of a whole call, with the next step to try when the
 * cause is a usual one (wrong address, refused credentials).
 */
export function describeCallError(err: unknown, address: string): string {
  if (err instanceof AthenaAuthError) {
    return `could not get an access token: ${err.message}. Check ATHENA_CLIENT_ID, ATHENA_CLIENT_SECRET, ATHENA_AUDIENCE and ATHENA_TOKEN_URL`;
  }
  if (err instanceof AthenaTransportError) {
    switch (err.code) {
      case 'UNAUTHENTICATED':
        return `${address} refused the credentials (UNAUTHENTICATED${err.details ? `: ${err.details}` : ''}). Check the token or client credentials`;
      case 'UNAVAILABLE':
        return `cannot reach ${address} (UNAVAILABLE${err.details ? `: ${err.details}` : ''}). Check the address; a local plaintext server needs --insecure`;
      default:
        return err.message;
    }
  }
  return messageOf(err);
}

/**
 * The message of anything thrown. Not `instanceof Error`: errors made by Node itself (fs,
 * parseArgs) come from another realm when a test runner loads this code in a VM.
 */
export function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
