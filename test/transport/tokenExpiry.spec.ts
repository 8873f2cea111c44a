import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AthenaAuthError, jwtExpiry, oauthClientCredentials, staticToken } from '../../src/transport';

const jwt = (claims: object): string =>
  ['{"alg":"none"}', JSON.stringify(claims), ''].map((p) => Buffer.from(p).toString('base64url')).join('.') + 'sig';

describe('token lifetimes', () => {
  it('a static JWT says when it expires (its exp claim); other tokens say nothing', () => {
    expect(staticToken(jwt({ sub: 'x', exp: 1_900_000_000 })).expiresAt?.()).toBe(1_900_000_000_000);
    expect(staticToken('opaque-token').expiresAt?.()).toBeUndefined();
    expect(jwtExpiry(jwt({ sub: 'no exp' }))).toBeUndefined();
    expect(jwtExpiry('a.!!!.c')).toBeUndefined();
  });

  describe('a token endpoint that never answers', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      // Accepts the request and never answers.
      server = createServer(() => undefined);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('is given up after requestTimeoutMs with a message that says so', async () => {
      // retryBudgetMs 0: one request, given up after its 300 ms (the default budget retries a
      // timeout for 10 s of real time; oauth.spec covers the retry).
      const provider = oauthClientCredentials({
        clientId: 'id',
        clientSecret: 'secret-value',
        tokenUrl: url,
        requestTimeoutMs: 300,
        retryBudgetMs: 0,
      });
      const error = await provider.getToken().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AthenaAuthError);
      expect(error).toMatchObject({ code: 'TOKEN_ENDPOINT_UNREACHABLE', retryable: true });
      expect((error as Error).message).toBe(`Token endpoint ${url} did not answer within 300 ms`);
    });
  });
});
