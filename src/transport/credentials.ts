import * as grpc from '@grpc/grpc-js';
import { backoffDelay, type Backoff } from '../core/backoff';
import { InvalidOptionError } from '../core/invalidOptionError';
import { AthenaAuthError } from './errors';
import { checkPem, checkTokenUrl, isLoopbackAddress } from './plaintext';
import { requestToken, type CachedToken, type TokenRequest } from './tokenRequest';
import { jwtExpiry } from './jwt';

export { isLoopbackAddress, isLoopbackHost } from './plaintext';
export { jwtExpiry };

/**
 * Supplies the bearer token each call carries. The client asks for a token every time it opens
 * a call, so a provider should cache (as {@link oauthClientCredentials} does).
 */
export interface AccessTokenProvider {
  /** A token valid now. Rejects with an {@link AthenaAuthError} when none can be had. */
  getToken(): Promise<string>;
  /**
   * Forgets a cached token, so the next {@link AccessTokenProvider.getToken} fetches a new one.
   * The client calls it when the server answers `UNAUTHENTICATED` (a token revoked before its
   * expiry).
   */
  invalidate?(): void;
  /**
   * When the current token expires (epoch milliseconds), if known. A stream keeps the token it
   * opened with, so long-lived streams can use this to re-open in time.
   */
  expiresAt?(): number | undefined;
}

/**
 * A fixed bearer token (for tokens issued out of band, and for tests). When the token is a JWT
 * with an `exp` claim (as OAuth access tokens usually are), `expiresAt()` says when it expires,
 * so a caller can refuse an expired token before any work, or warn that a long run will outlive it.
 */
export function staticToken(token: string): AccessTokenProvider {
  if (!token) throw new InvalidOptionError('staticToken: the token is empty');
  const expiresAt = jwtExpiry(token);
  return { getToken: () => Promise.resolve(token), expiresAt: () => expiresAt };
}

/** Default of {@link OAuthClientCredentialsOptions.requestTimeoutMs}: a token endpoint that has not answered in 10 s is not going to. */
export const DEFAULT_TOKEN_TIMEOUT_MS = 10_000;

/** Options of {@link oauthClientCredentials}. */
export interface OAuthClientCredentialsOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Default `'crisp-athena-live'` (others: `'crisp-athena-dev'`, `'crisp-athena-qa'`). */
  readonly audience?: string;
  /** Default `'https://crispthinking.auth0.com/oauth/token'`. */
  readonly tokenUrl?: string;
  /**
   * How long before expiry a token is replaced, in ms. Default 60 000. Capped at half the
   * token's lifetime, so that a short-lived token is still reused.
   */
  readonly refreshMarginMs?: number;
  /** Timeout of one token request, in ms. Default 10 000 ({@link DEFAULT_TOKEN_TIMEOUT_MS}). */
  readonly requestTimeoutMs?: number;
  /**
   * Allow an `http://` token URL to a host other than loopback. Default false: the client secret
   * would cross the network in plaintext, so such a URL is refused unless this says otherwise.
   * `http://localhost`, `http://127.0.0.1` and `http://[::1]` are always allowed (local development).
   */
  readonly allowPlaintextTokenUrl?: boolean;
  /**
   * Default: Node's global `fetch`. It is called with `redirect: 'manual'`: a redirect is refused
   * (the POST body holds the client secret), so an injected fetch should honour that too.
   */
  readonly fetch?: typeof fetch;
  /** Clock in epoch ms (tests). Default `Date.now`. */
  readonly now?: () => number;
  /**
   * How long one `getToken()` may keep retrying a token request that failed for a reason that can
   * pass (HTTP 5xx or 429, a timeout, the endpoint unreachable), in ms of real time, with the
   * core backoff between tries (250 ms doubling to 2 s, half of it jittered). A 4xx or a malformed
   * answer is never retried. Default 10 000 (the CLI's connect budget); `0` tries once.
   */
  readonly retryBudgetMs?: number;
}

/** Default of {@link OAuthClientCredentialsOptions.retryBudgetMs}. */
export const DEFAULT_TOKEN_RETRY_BUDGET_MS = 10_000;

/** The backoff between token requests: 250 ms doubling to 2 s, half of it jittered. */
export const TOKEN_RETRY_BACKOFF: Backoff = { initialDelay: 250, maxDelay: 2_000, jitter: 'equal' };

/**
 * Runs `once` until it succeeds, fails for good (`retryable` false), or the next try would start
 * after `budgetMs` of real time; the last failure is what rejects.
 */
async function retried<T>(once: () => Promise<T>, budgetMs: number): Promise<T> {
  const startedAt = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await once();
    } catch (err) {
      if (!(err instanceof AthenaAuthError) || !err.retryable) throw err;
      const delay = backoffDelay(TOKEN_RETRY_BACKOFF, attempt, Math.random);
      if (performance.now() - startedAt + delay >= budgetMs) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The token provider {@link oauthClientCredentials} returns. */
export interface OAuthTokenProvider extends AccessTokenProvider {
  invalidate(): void;
  expiresAt(): number | undefined;
}

/** Where `oauthClientCredentials` asks for tokens unless told otherwise. */
export const DEFAULT_TOKEN_URL = 'https://crispthinking.auth0.com/oauth/token';
/** The audience `oauthClientCredentials` asks tokens for unless told otherwise. */
export const DEFAULT_AUDIENCE = 'crisp-athena-live';

/**
 * OAuth 2.0 client credentials, as the Athena service uses them: POSTs
 * `{client_id, client_secret, audience, grant_type: 'client_credentials'}` as JSON to the token
 * endpoint and caches the `access_token` until `refreshMarginMs` before it expires.
 *
 * However many calls wait for a token, at most one request is in flight. A failed request is not
 * cached: the next call asks again. If a refresh fails while the old token has not yet expired,
 * the old token is used. Failures reject with an {@link AthenaAuthError} that says what the
 * endpoint answered, never the secret.
 *
 * @example
 * const client = createAthenaClient({
 *   address: 'api.athena-risk-intelligence.com:443',
 *   credentials: tls({ token: oauthClientCredentials({ clientId, clientSecret }) }),
 * });
 */
export function oauthClientCredentials(options: OAuthClientCredentialsOptions): OAuthTokenProvider {
  const { clientId, clientSecret, tokenUrl = DEFAULT_TOKEN_URL, now = Date.now } = options;
  if (!clientId || !clientSecret) throw new InvalidOptionError('oauthClientCredentials: clientId and clientSecret are required');
  const request: TokenRequest = {
    clientId,
    clientSecret,
    audience: options.audience ?? DEFAULT_AUDIENCE,
    tokenUrl,
    endpoint: checkTokenUrl(tokenUrl, options.allowPlaintextTokenUrl === true),
    allowPlaintext: options.allowPlaintextTokenUrl === true,
    refreshMarginMs: options.refreshMarginMs ?? 60_000,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS,
    fetch: options.fetch ?? globalThis.fetch,
    now,
  };
  const budgetMs = options.retryBudgetMs ?? DEFAULT_TOKEN_RETRY_BUDGET_MS;
  if (!(Number.isFinite(budgetMs) && budgetMs >= 0))
    throw new InvalidOptionError(`oauthClientCredentials: retryBudgetMs must be a number >= 0, got ${budgetMs}`);
  return cachedTokens(() => retried(() => requestToken(request), budgetMs), now);
}

/**
 * The cache in front of the token endpoint: a token is reused until its `refreshAt`; however many
 * callers wait, at most one request is in flight; a failure is not cached.
 */
function cachedTokens(fetchToken: () => Promise<CachedToken>, now: () => number): OAuthTokenProvider {
  let current: CachedToken | undefined;
  let inflight: Promise<string> | undefined;
  // A token fetched before an invalidate() must not be stored after it.
  let generation = 0;

  const refresh = (): Promise<string> => {
    const gen = generation;
    const previous = current;
    const settled = fetchToken().then(
      (fresh) => {
        if (gen === generation) current = fresh;
        return fresh.value;
      },
      (error: unknown) => {
        // A refresh that fails inside the margin falls back on the still-valid token.
        if (previous && gen === generation && now() < previous.expiresAt) return previous.value;
        throw error;
      },
    );
    void settled
      .finally(() => {
        if (inflight === settled) inflight = undefined;
      })
      .catch(() => undefined);
    return settled;
  };

  return {
    getToken(): Promise<string> {
      if (current && now() < current.refreshAt) return Promise.resolve(current.value);
      inflight ??= refresh();
      return inflight;
    },
    invalidate(): void {
      generation++;
      current = undefined;
      inflight = undefined;
    },
    expiresAt(): number | undefined {
      return current && Number.isFinite(current.expiresAt) ? current.expiresAt : undefined;
    },
  };
}

/**
 * How a client reaches the server: the channel's security and the token every call carries.
 * Build one with {@link tls} or {@link insecure}.
 */
export interface AthenaCredentials {
  /** Whether the channel uses TLS. */
  readonly secure: boolean;
  /** Channel credentials for grpc-js (a new object per channel). */
  channelCredentials(): grpc.ChannelCredentials;
  /** Channel options these credentials need (e.g. a TLS server name override). */
  readonly channelOptions: Readonly<grpc.ChannelOptions>;
  /** The token sent as `authorization: Bearer <token>`; none sends no `authorization`. */
  readonly token?: AccessTokenProvider;
  /**
   * Called by `createAthenaClient` with the server address before any channel opens; throws an
   * `InvalidOptionError` when these credentials must not be used there (a token in plaintext to
   * another machine).
   */
  checkAddress?(address: string): void;
}

/** Options of {@link tls}. */
export interface TlsOptions {
  /** PEM root certificates to trust instead of the system's (e.g. a private CA). */
  readonly rootCerts?: Buffer | string;
  /** PEM client key, for mutual TLS (with `certChain`). */
  readonly privateKey?: Buffer | string;
  /** PEM client certificate chain, for mutual TLS. */
  readonly certChain?: Buffer | string;
  /** Name to verify the server certificate against, when it differs from the address host. */
  readonly serverName?: string;
  /** Token for every call: a provider or a fixed string. */
  readonly token?: AccessTokenProvider | string;
}

const toBuffer = (v: Buffer | string | undefined): Buffer | undefined =>
  v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v);

const toProvider = (token: AccessTokenProvider | string | undefined): AccessTokenProvider | undefined =>
  typeof token === 'string' ? staticToken(token) : token;

/**
 * TLS channel credentials (the public service), with an optional custom root CA and a token.
 *
 * @example
 * tls({ token: oauthClientCredentials({ clientId, clientSecret }) })
 * tls({ rootCerts: fs.readFileSync('ca.pem'), token: 'my-token' })
 */
export function tls(options: TlsOptions = {}): AthenaCredentials {
  const rootCerts = toBuffer(options.rootCerts);
  const privateKey = toBuffer(options.privateKey);
  const certChain = toBuffer(options.certChain);
  if (!privateKey !== !certChain) throw new InvalidOptionError('tls: privateKey and certChain go together');
  // grpc-js takes anything here and fails later, or not at all (non-PEM roots are ignored and
  // the system's trusted instead): refuse what is not PEM now.
  checkPem(rootCerts, 'rootCerts', /-----BEGIN CERTIFICATE-----/, '-----BEGIN CERTIFICATE-----');
  checkPem(certChain, 'certChain', /-----BEGIN CERTIFICATE-----/, '-----BEGIN CERTIFICATE-----');
  checkPem(privateKey, 'privateKey', /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/, '-----BEGIN PRIVATE KEY-----');
  const channelOptions: grpc.ChannelOptions = options.serverName
    ? { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName }
    : {};
  return {
    secure: true,
    channelCredentials: () => grpc.credentials.createSsl(rootCerts ?? null, privateKey ?? null, certChain ?? null),
    channelOptions,
    token: toProvider(options.token),
  };
}

/** Options of {@link insecure}. */
export interface InsecureOptions {
  /**
   * Send the token in plaintext to an address that is not loopback. Default false: anyone on the
   * path could read and reuse it, so `createAthenaClient` refuses that combination unless this is
   * set (CLI: `--allow-plaintext-credentials`). Loopback addresses are always allowed.
   */
  readonly allowPlaintextToken?: boolean;
}

/**
 * A plaintext channel, for loopback and tests (the in-process server). A token, if given, is
 * still sent, as per-call metadata: grpc-js refuses call credentials on insecure channels, so the
 * client attaches `authorization` itself. With a token, the address must be loopback
 * (`127.0.0.1`, `localhost`, `[::1]`) unless `allowPlaintextToken` is set.
 *
 * @example
 * insecure()                       // no authorization header
 * insecure('token-accepted-by-the-test-server')
 * insecure(token, { allowPlaintextToken: true })   // a trusted network, not loopback
 */
export function insecure(token?: AccessTokenProvider | string, options: InsecureOptions = {}): AthenaCredentials {
  const provider = toProvider(token);
  return {
    secure: false,
    channelCredentials: () => grpc.credentials.createInsecure(),
    channelOptions: {},
    token: provider,
    checkAddress(address: string): void {
      if (provider && !options.allowPlaintextToken && !isLoopbackAddress(address)) {
        throw new InvalidOptionError(
          `insecure: a bearer token would go in plaintext to ${address}, which is not loopback; use tls(), ` +
            'or pass { allowPlaintextToken: true } (CLI: --allow-plaintext-credentials) if the network is trusted',
        );
      }
    },
  };
}
