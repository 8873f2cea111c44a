import { AthenaAuthError } from './errors';
import { describeTokenlessBody, readTokenBody, redirectRefusal, resolvesToLoopback } from './plaintext';
import { redactor, type Redact } from '../core/redact';

/** A token from the endpoint, with when it expires and when to replace it. */
export interface CachedToken {
  readonly value: string;
  /** Infinity when the endpoint gave no `expires_in`. */
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/** One token request of `oauthClientCredentials`: its options, checked and with defaults filled in. */
export interface TokenRequest {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly audience: string;
  readonly tokenUrl: string;
  /** `tokenUrl` as parsed and checked by `checkTokenUrl` (redirects are judged against it). */
  readonly endpoint: URL;
  /** `allowPlaintextTokenUrl`: an http:// URL to any host was allowed on purpose. */
  readonly allowPlaintext: boolean;
  readonly refreshMarginMs: number;
  readonly requestTimeoutMs: number;
  readonly fetch: typeof fetch;
  readonly now: () => number;
}

/**
 * Asks the endpoint for a token: POSTs the client credentials as JSON, reads the answer (capped)
 * and returns the token with its expiry, or rejects with an {@link AthenaAuthError} that says what
 * the endpoint answered, never the secret.
 */
export async function requestToken(request: TokenRequest): Promise<CachedToken> {
  // Any text from the endpoint that reaches an error message is redacted first, in every
  // spelling the endpoint could echo the secret in (JSON-escaped, URL-encoded, Basic base64).
  const redact = redactor([{ secret: request.clientSecret, basicUser: request.clientId }]);
  await checkPlaintextEndpoint(request);
  const startedAt = request.now();
  const response = await postCredentials(request, redact);
  const redirect = redirectRefusal(response, request.endpoint, request.tokenUrl);
  if (redirect) {
    await response.body?.cancel().catch(() => undefined);
    throw redirect;
  }
  // Capped: an endpoint that answers without end cannot fill the memory.
  const text = await readTokenBody(response, request.tokenUrl);
  const body = jsonObject(text);
  if (!response.ok) throw requestFailed(request.tokenUrl, response, text, body ?? {}, redact);
  return tokenFrom(request, startedAt, response, text, body, redact);
}

/**
 * An `http://` token URL was allowed because its host is `localhost`: the secret goes only if the
 * name resolves to loopback addresses alone (an /etc/hosts entry or a resolver could point it
 * elsewhere). `allowPlaintextTokenUrl` skips the check.
 */
async function checkPlaintextEndpoint(request: TokenRequest): Promise<void> {
  const { endpoint } = request;
  if (endpoint.protocol !== 'http:' || request.allowPlaintext) return;
  if (await resolvesToLoopback(endpoint.hostname)) return;
  throw new AthenaAuthError({
    code: 'TOKEN_URL_NOT_LOOPBACK',
    message:
      `Token endpoint ${request.tokenUrl} is plaintext http and ${endpoint.hostname} does not resolve to loopback addresses only; ` +
      'the client secret was not sent: use https://, or allowPlaintextTokenUrl (CLI: --allow-plaintext-credentials) if the network is trusted',
    retryable: false,
  });
}

/** The POST itself; a network failure or timeout becomes a retryable TOKEN_ENDPOINT_UNREACHABLE. */
async function postCredentials(request: TokenRequest, redact: Redact): Promise<Response> {
  const { tokenUrl, requestTimeoutMs } = request;
  try {
    return await request.fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        client_id: request.clientId,
        client_secret: request.clientSecret,
        audience: request.audience,
        grant_type: 'client_credentials',
      }),
      signal: AbortSignal.timeout(requestTimeoutMs),
      // Never follow: a redirect would resend the POST body, client secret included, to wherever
      // the Location header points (and a 307/308 keeps the method and body).
      redirect: 'manual',
    });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    // AbortSignal.timeout() rejects with a DOMException named TimeoutError: say what that means.
    const timedOut = (cause as { name?: unknown } | null)?.name === 'TimeoutError';
    throw new AthenaAuthError({
      code: 'TOKEN_ENDPOINT_UNREACHABLE',
      message: timedOut
        ? `Token endpoint ${tokenUrl} did not answer within ${requestTimeoutMs} ms`
        : `Token endpoint ${tokenUrl} unreachable: ${redact(reason)}`,
      retryable: true,
      cause,
    });
  }
}

/** The answer as a JSON object, or undefined when it is not one. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the status (and a snippet of the text) still says what happened.
  }
  return undefined;
}

/** A non-empty string field, redacted; undefined otherwise. */
const field = (v: unknown, redact: Redact): string | undefined => (typeof v === 'string' && v !== '' ? redact(v) : undefined);

/** The error for an answer that is not 2xx: the OAuth `error` fields if any, else a snippet of the text. */
function requestFailed(tokenUrl: string, response: Response, text: string, body: Record<string, unknown>, redact: Redact): AthenaAuthError {
  const error = field(body.error, redact);
  const errorDescription = field(body.error_description, redact) ?? field(body.message, redact);
  const said =
    error || errorDescription ? [error, errorDescription].filter(Boolean).join(': ') : redact(text).slice(0, 200).trim() || '(empty body)';
  return new AthenaAuthError({
    code: 'TOKEN_REQUEST_FAILED',
    message: `Token request to ${tokenUrl} failed: HTTP ${response.status}${response.statusText ? ` ${redact(response.statusText)}` : ''}: ${said}`,
    httpStatus: response.status,
    error,
    errorDescription,
    retryable: response.status === 429 || response.status >= 500,
  });
}

/** The token of a 2xx answer and when to replace it; TOKEN_RESPONSE_INVALID when it has none. */
function tokenFrom(
  request: TokenRequest,
  startedAt: number,
  response: Response,
  text: string,
  body: Record<string, unknown> | undefined,
  redact: Redact,
): CachedToken {
  const token = body?.access_token;
  if (typeof token !== 'string' || token === '') {
    const what = describeTokenlessBody(response, text, body, redact);
    throw new AthenaAuthError({
      code: 'TOKEN_RESPONSE_INVALID',
      message: `Token endpoint ${request.tokenUrl} answered HTTP ${response.status} with ${what}`,
      httpStatus: response.status,
      retryable: false,
    });
  }
  const expiresIn = Number(body?.expires_in);
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
    // No lifetime given: keep it until the server refuses it (the client then invalidates).
    return { value: token, expiresAt: Infinity, refreshAt: Infinity };
  }
  // Count the lifetime from when we asked, not when the answer came: errs on the early side.
  const lifetimeMs = expiresIn * 1000;
  const expiresAt = startedAt + lifetimeMs;
  const margin = Math.min(request.refreshMarginMs, lifetimeMs / 2);
  return { value: token, expiresAt, refreshAt: expiresAt - margin };
}
