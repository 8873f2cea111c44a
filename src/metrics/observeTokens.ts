import type { Meter } from '@opentelemetry/api';
import type { AccessTokenProvider } from '../transport/credentials';
import type { AthenaAuthErrorCode } from '../transport/errors';
import { ATTR, globalMeter, instrumentsOf } from './instruments';

// A record, so that the compiler says when a code is added and not listed here.
const AUTH_CODES: Record<AthenaAuthErrorCode, true> = {
  TOKEN_REQUEST_FAILED: true,
  TOKEN_ENDPOINT_UNREACHABLE: true,
  TOKEN_RESPONSE_INVALID: true,
  TOKEN_REDIRECT_REFUSED: true,
  TOKEN_URL_NOT_LOOPBACK: true,
};

/**
 * The same token provider, counting each time it cannot give a token
 * (`athena.client.token.failures`, by the `AthenaAuthError` code; every code starts at 0). The
 * counter is what an alert on a failing token endpoint reads: calls fail from then on.
 *
 * @example
 * ```ts
 * const token = observeTokens(oauthClientCredentials({ clientId, clientSecret }));
 * const client = createAthenaClient({ address, credentials: tls({ token }) });
 * ```
 *
 * @param options.meter Default the global meter `athena-rx` (a no-op without an SDK).
 */
export function observeTokens<P extends AccessTokenProvider>(provider: P, options: { meter?: Meter } = {}): P {
  const { tokenFailures } = instrumentsOf(options.meter ?? globalMeter());
  for (const code of Object.keys(AUTH_CODES)) tokenFailures.add(0, { [ATTR.errorCode]: code });
  const getToken = (): Promise<string> =>
    provider.getToken().catch((err: unknown) => {
      const code = (err as { code?: unknown }).code;
      tokenFailures.add(1, { [ATTR.errorCode]: typeof code === 'string' && code in AUTH_CODES ? code : 'TOKEN_REQUEST_FAILED' });
      throw err;
    });
  // The provider's other methods (invalidate, expiresAt) stay its own, bound to it.
  return new Proxy(provider, {
    get: (target, key) => (key === 'getToken' ? getToken : (Reflect.get(target, key) as unknown)),
  });
}
