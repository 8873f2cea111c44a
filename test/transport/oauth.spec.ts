/**
 * OAuth client credentials against a real token endpoint on loopback (athena-api.md section 5):
 * the request's shape, caching, refresh before expiry, single flight, and failures that say what
 * the endpoint answered.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AthenaAuthError, oauthClientCredentials } from '../../src/transport';
import { InvalidOptionError } from '../../src/core/invalidOptionError';
import { resolvesToLoopback } from '../../src/transport/plaintext';

interface TokenEndpoint {
  readonly url: string;
  /** Bodies of the POSTs received so far. */
  readonly requests: Array<{ method: string; contentType: string; body: Record<string, unknown> }>;
  /** What the next answers are: status and JSON (or raw text) body; delay in ms. */
  answer: (n: number) => { status: number; body: unknown; delayMs?: number; headers?: Record<string, string> };
  close(): Promise<void>;
}

async function startTokenEndpoint(): Promise<TokenEndpoint> {
  const endpoint: TokenEndpoint = {
    url: '',
    requests: [],
    answer: (n) => ({ status: 200, body: { access_token: `token-${n}`, token_type: 'Bearer', expires_in: 86400 } }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      endpoint.requests.push({
        method: req.method ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      });
      const { status, body, delayMs = 0, headers = {} } = endpoint.answer(endpoint.requests.length);
      setTimeout(() => {
        res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (endpoint as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
  return endpoint;
}

const SECRET = 's3cr3t-do-not-leak';

describe('oauthClientCredentials (contract section 5)', () => {
  let endpoint: TokenEndpoint;
  beforeEach(async () => {
    endpoint = await startTokenEndpoint();
  });
  afterEach(() => endpoint.close());

  it('POSTs the client credentials as JSON with the default audience and caches the token', async () => {
    const provider = oauthClientCredentials({ clientId: 'id-1', clientSecret: SECRET, tokenUrl: endpoint.url });
    await expect(provider.getToken()).resolves.toBe('token-1');
    await expect(provider.getToken()).resolves.toBe('token-1');
    expect(endpoint.requests).toEqual([
      {
        method: 'POST',
        contentType: 'application/json',
        body: { client_id: 'id-1', client_secret: SECRET, audience: 'crisp-athena-live', grant_type: 'client_credentials' },
      },
    ]);
    expect(provider.expiresAt()).toBeGreaterThan(Date.now() + 86_000_000);
  });

  it('uses the audience given', async () => {
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, audience: 'crisp-athena-qa', tokenUrl: endpoint.url });
    await provider.getToken();
    expect(endpoint.requests[0]?.body.audience).toBe('crisp-athena-qa');
  });

  it('refreshes the token refreshMarginMs before it expires, not earlier', async () => {
    let now = 1_000_000;
    endpoint.answer = (n) => ({ status: 200, body: { access_token: `token-${n}`, expires_in: 120 } });
    const provider = oauthClientCredentials({
      clientId: 'i',
      clientSecret: SECRET,
      tokenUrl: endpoint.url,
      refreshMarginMs: 30_000,
      now: () => now,
    });
    await expect(provider.getToken()).resolves.toBe('token-1');
    expect(provider.expiresAt()).toBe(1_000_000 + 120_000);
    now += 89_000; // 31 s before expiry: still outside the margin
    await expect(provider.getToken()).resolves.toBe('token-1');
    now += 2_000; // 29 s before expiry: inside the margin
    await expect(provider.getToken()).resolves.toBe('token-2');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('caps the margin at half the lifetime, so a short-lived token is still reused', async () => {
    let now = 0;
    endpoint.answer = (n) => ({ status: 200, body: { access_token: `token-${n}`, expires_in: 10 } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url, now: () => now });
    await provider.getToken();
    now = 4_000;
    await expect(provider.getToken()).resolves.toBe('token-1');
    now = 5_000;
    await expect(provider.getToken()).resolves.toBe('token-2');
  });

  it('single flight: 100 concurrent callers cause one POST and all get its token', async () => {
    endpoint.answer = (n) => ({ status: 200, body: { access_token: `token-${n}`, expires_in: 3600 }, delayMs: 100 });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => provider.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['token-1']));
    expect(endpoint.requests).toHaveLength(1);
  });

  it('single flight holds for a refresh too: callers inside the margin share one POST', async () => {
    let now = 0;
    endpoint.answer = (n) => ({ status: 200, body: { access_token: `token-${n}`, expires_in: 100 }, delayMs: 50 });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url, now: () => now });
    await provider.getToken();
    now = 95_000;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => provider.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['token-2']));
    expect(endpoint.requests).toHaveLength(2);
  });

  it('a refused request is an AthenaAuthError with the endpoint status and error text, never the secret', async () => {
    endpoint.answer = () => ({ status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    const error = await provider.getToken().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AthenaAuthError);
    const auth = error as AthenaAuthError;
    expect(auth.code).toBe('TOKEN_REQUEST_FAILED');
    expect(auth.httpStatus).toBe(401);
    expect(auth.error).toBe('access_denied');
    expect(auth.errorDescription).toBe('Unauthorized');
    expect(auth.retryable).toBe(false);
    expect(auth.message).toMatch(/HTTP 401.*access_denied: Unauthorized/);
    expect(JSON.stringify({ ...auth, message: auth.message })).not.toContain(SECRET);
    // A failure is not cached: the next call asks again.
    endpoint.answer = () => ({ status: 200, body: { access_token: 'late', expires_in: 60 } });
    await expect(provider.getToken()).resolves.toBe('late');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('redacts the secret if the endpoint echoes it, and reports non-JSON bodies and 5xx as retryable', async () => {
    endpoint.answer = () => ({ status: 403, body: { error: 'invalid_client', error_description: `bad secret ${SECRET}` } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url, retryBudgetMs: 0 });
    const echoed = (await provider.getToken().catch((e: unknown) => e)) as AthenaAuthError;
    expect(echoed.message).toContain('invalid_client: bad secret [redacted]');
    expect(echoed.message).not.toContain(SECRET);

    endpoint.answer = () => ({ status: 503, body: 'upstream overloaded' });
    const busy = (await provider.getToken().catch((e: unknown) => e)) as AthenaAuthError;
    expect(busy.code).toBe('TOKEN_REQUEST_FAILED');
    expect(busy.message).toMatch(/HTTP 503.*upstream overloaded/);
    expect(busy.retryable).toBe(true);
  });

  describe('retries (issue 22): a 5xx or a timeout is retried with the core backoff within the budget, a 4xx is not', () => {
    it('one HTTP 500, then a token: getToken() resolves after a second request', async () => {
      endpoint.answer = (n) =>
        n === 1 ? { status: 500, body: { error: 'server_error' } } : { status: 200, body: { access_token: 'second', expires_in: 60 } };
      const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
      await expect(provider.getToken()).resolves.toBe('second');
      expect(endpoint.requests).toHaveLength(2);
    });

    it('a request that times out, then a token: retried', async () => {
      endpoint.answer = (n) => ({ status: 200, body: { access_token: `t${n}`, expires_in: 60 }, delayMs: n === 1 ? 5_000 : 0 });
      const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url, requestTimeoutMs: 300 });
      await expect(provider.getToken()).resolves.toBe('t2');
    });

    it('HTTP 400 and 401 are not retried: one request, the error at once', async () => {
      for (const status of [400, 401]) {
        endpoint.requests.length = 0;
        endpoint.answer = () => ({ status, body: { error: 'invalid_request' } });
        const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
        await expect(provider.getToken()).rejects.toMatchObject({ httpStatus: status, retryable: false });
        expect(endpoint.requests).toHaveLength(1);
      }
    });

    it('a 503 that lasts: retried until the budget is spent, then the last error', async () => {
      endpoint.answer = () => ({ status: 503, body: 'upstream overloaded' });
      const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url, retryBudgetMs: 1_500 });
      await expect(provider.getToken()).rejects.toMatchObject({ code: 'TOKEN_REQUEST_FAILED', httpStatus: 503 });
      // 250 ms doubling (half jittered): at least two tries fit in 1.5 s, never more than six.
      expect(endpoint.requests.length).toBeGreaterThanOrEqual(2);
      expect(endpoint.requests.length).toBeLessThanOrEqual(6);
    });
  });

  it('a 200 without access_token is TOKEN_RESPONSE_INVALID', async () => {
    endpoint.answer = () => ({ status: 200, body: { token_type: 'Bearer' } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    await expect(provider.getToken()).rejects.toMatchObject({ name: 'AthenaAuthError', code: 'TOKEN_RESPONSE_INVALID' });
  });

  it('an unreachable endpoint is TOKEN_ENDPOINT_UNREACHABLE, retryable', async () => {
    const url = endpoint.url;
    await endpoint.close();
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: url, retryBudgetMs: 0 });
    await expect(provider.getToken()).rejects.toMatchObject({ code: 'TOKEN_ENDPOINT_UNREACHABLE', retryable: true });
    endpoint = await startTokenEndpoint(); // for afterEach
  });

  it('a refresh that fails inside the margin falls back on the still-valid token', async () => {
    let now = 0;
    const provider = oauthClientCredentials({
      clientId: 'i',
      clientSecret: SECRET,
      tokenUrl: endpoint.url,
      refreshMarginMs: 60_000,
      now: () => now,
      retryBudgetMs: 0,
    });
    endpoint.answer = () => ({ status: 200, body: { access_token: 'first', expires_in: 3600 } });
    await provider.getToken();
    endpoint.answer = () => ({ status: 500, body: { error: 'server_error' } });
    now = 3_570_000; // 30 s before expiry
    await expect(provider.getToken()).resolves.toBe('first');
    now = 3_600_000; // expired
    await expect(provider.getToken()).rejects.toMatchObject({ code: 'TOKEN_REQUEST_FAILED', httpStatus: 500 });
  });

  it('invalidate() drops the cached token', async () => {
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    await expect(provider.getToken()).resolves.toBe('token-1');
    provider.invalidate();
    await expect(provider.getToken()).resolves.toBe('token-2');
  });

  it('uses an injected fetch', async () => {
    const seen: string[] = [];
    const provider = oauthClientCredentials({
      clientId: 'i',
      clientSecret: SECRET,
      tokenUrl: 'https://example.invalid/token',
      fetch: async (input) => {
        seen.push(input instanceof Request ? input.url : String(input));
        return new Response(JSON.stringify({ access_token: 'injected', expires_in: 60 }), { status: 200 });
      },
    });
    await expect(provider.getToken()).resolves.toBe('injected');
    expect(seen).toEqual(['https://example.invalid/token']);
  });
});

describe('oauthClientCredentials: the secret stays with the token endpoint (issue 12)', () => {
  let endpoint: TokenEndpoint;
  let elsewhere: TokenEndpoint;
  beforeEach(async () => {
    endpoint = await startTokenEndpoint();
    elsewhere = await startTokenEndpoint();
  });
  afterEach(async () => {
    await endpoint.close();
    await elsewhere.close();
  });

  it.each([301, 302, 303, 307, 308])(
    'a %i redirect to another origin is refused, naming the target; nothing reaches it',
    async (status) => {
      endpoint.answer = () => ({ status, body: '', headers: { location: `${elsewhere.url}?steal=1` } });
      const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
      const error = (await provider.getToken().catch((e: unknown) => e)) as AthenaAuthError;
      expect(error).toBeInstanceOf(AthenaAuthError);
      expect(error).toMatchObject({ code: 'TOKEN_REDIRECT_REFUSED', httpStatus: status, retryable: false });
      expect(error.message).toContain(`redirecting to ${new URL(elsewhere.url).origin}/oauth/token (another origin)`);
      expect(error.message).not.toContain('steal');
      expect(error.message).not.toContain(SECRET);
      expect(elsewhere.requests).toHaveLength(0);
    },
  );

  it('a redirect within the same origin is refused too (a 303 would drop the body, a 307 resend the secret)', async () => {
    endpoint.answer = () => ({ status: 307, body: '', headers: { location: '/v2/token' } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    await expect(provider.getToken()).rejects.toMatchObject({
      code: 'TOKEN_REDIRECT_REFUSED',
      message: expect.stringContaining('/v2/token (same origin)'),
    });
    expect(endpoint.requests).toHaveLength(1);
  });

  it('an injected fetch that follows redirects anyway: a token from another origin is not used', async () => {
    const provider = oauthClientCredentials({
      clientId: 'i',
      clientSecret: SECRET,
      tokenUrl: 'https://auth.example/token',
      fetch: async () => {
        const r = new Response(JSON.stringify({ access_token: 'stolen' }), { status: 200 });
        Object.defineProperties(r, { redirected: { value: true }, url: { value: 'https://evil.example/token' } });
        return r;
      },
    });
    await expect(provider.getToken()).rejects.toMatchObject({
      code: 'TOKEN_REDIRECT_REFUSED',
      message: expect.stringContaining('https://evil.example/token'),
    });
  });

  it('an http:// token URL to another machine is refused at once; loopback and allowPlaintextTokenUrl are allowed', () => {
    const make = (tokenUrl: string, allowPlaintextTokenUrl?: boolean) => () =>
      oauthClientCredentials({
        clientId: 'i',
        clientSecret: SECRET,
        tokenUrl,
        allowPlaintextTokenUrl,
        fetch: async () => new Response('{}'),
      });
    expect(make('http://auth.example.com/oauth/token')).toThrow(InvalidOptionError);
    expect(make('http://10.0.0.7:8080/token')).toThrow(/plaintext http.*allowPlaintextTokenUrl: true.*--allow-plaintext-credentials/);
    expect(make('ftp://auth.example.com/token')).toThrow(InvalidOptionError);
    expect(make('not a url')).toThrow(InvalidOptionError);
    expect(make('http://auth.example.com/oauth/token', true)).not.toThrow();
    for (const url of ['http://127.0.0.1:9/t', 'http://localhost:9/t', 'http://[::1]:9/t', 'https://auth.example.com/t'])
      expect(make(url)).not.toThrow();
    // *.localhost is a name like any other where the resolver asks DNS for it (nsswitch `files dns`).
    expect(make('http://evil.localhost:9/t')).toThrow(/plaintext http/);
  });

  it('http://localhost: the secret goes only when the name resolves to loopback addresses alone', async () => {
    expect(await resolvesToLoopback('localhost')).toBe(true);
    expect(await resolvesToLoopback('127.0.0.1')).toBe(true);
    expect(await resolvesToLoopback('[::1]')).toBe(true);
    expect(await resolvesToLoopback('10.0.0.7')).toBe(false);
    expect(await resolvesToLoopback('no-such-host.invalid')).toBe(false);
    // The check runs before every request to localhost: the token comes as usual.
    const port = new URL(endpoint.url).port;
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: `http://localhost:${port}/oauth/token` });
    await expect(provider.getToken()).resolves.toBe('token-1');
  });

  it('an endpoint that answers without end is cut off at 1 MiB, not buffered', async () => {
    endpoint.answer = () => ({ status: 200, body: 'x'.repeat(3 * 1024 * 1024), headers: { 'content-type': 'text/plain' } });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    await expect(provider.getToken()).rejects.toMatchObject({
      code: 'TOKEN_RESPONSE_INVALID',
      message: expect.stringContaining('answered HTTP 200 with more than 1048576 bytes'),
    });
  });

  it('HTML or invalid JSON with HTTP 200 says what came back (content type, first bytes), never the secret', async () => {
    endpoint.answer = () => ({
      status: 200,
      body: `<!DOCTYPE html><html><body>Sign in\n${SECRET}</body></html>`,
      headers: { 'content-type': 'text/html; charset=utf-8' },
    });
    const provider = oauthClientCredentials({ clientId: 'i', clientSecret: SECRET, tokenUrl: endpoint.url });
    const html = (await provider.getToken().catch((e: unknown) => e)) as AthenaAuthError;
    expect(html).toMatchObject({ code: 'TOKEN_RESPONSE_INVALID', httpStatus: 200 });
    expect(html.message).toContain('not a JSON object (content-type text/html; charset=utf-8)');
    expect(html.message).toContain("starting '<!DOCTYPE html><html><body>Sign in\\x0a[redacted]");
    expect(html.message).not.toContain(SECRET);
    expect(html.message).not.toContain('without an access_token');

    endpoint.answer = () => ({ status: 200, body: '{"access_token": "trunc', headers: { 'content-type': 'application/json' } });
    await expect(provider.getToken()).rejects.toMatchObject({
      message: expect.stringContaining(`(content-type application/json), starting '{"access_token": "trunc'`),
    });

    endpoint.answer = () => ({ status: 200, body: { token_type: 'Bearer', expires_in: 60 } });
    await expect(provider.getToken()).rejects.toMatchObject({
      message: expect.stringContaining('a JSON object without an access_token (fields: token_type, expires_in)'),
    });
  });
});
