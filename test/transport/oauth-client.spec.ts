/**
 * OAuth end to end (athena-api.md section 5): a loopback token endpoint issues the token, the
 * in-process server accepts only it, and the client fetches it once for many calls.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { AthenaAuthError, createAthenaClient, insecure, oauthClientCredentials } from '../../src/transport';

describe('OAuth client credentials through the client', () => {
  let server: AthenaTestServer;
  let tokenServer: http.Server;
  let tokenUrl: string;
  let posts = 0;
  let answer: { status: number; body: object } = {
    status: 200,
    body: { access_token: 'issued-token', token_type: 'Bearer', expires_in: 3600 },
  };

  beforeAll(async () => {
    server = await startAthenaServer({ tokens: { 'issued-token': '*' } });
    tokenServer = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posts++;
        // Answer late, so that concurrent calls really wait on the same request.
        setTimeout(() => {
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body));
        }, 50);
      });
    });
    await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', () => r()));
    tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/oauth/token`;
  });
  afterAll(async () => {
    await server.stop();
    await new Promise<void>((r) => tokenServer.close(() => r()));
  });

  it('20 concurrent calls share one token request and pass the server token check', async () => {
    posts = 0;
    const client = createAthenaClient({
      address: server.address,
      credentials: insecure(oauthClientCredentials({ clientId: 'c', clientSecret: 's', tokenUrl })),
    });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => client.listDeployments()));
      expect(results).toHaveLength(20);
      expect(posts).toBe(1);
    } finally {
      client.close();
    }
  });

  it('a refused token request fails the call with the endpoint answer', async () => {
    answer = { status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } };
    const client = createAthenaClient({
      address: server.address,
      credentials: insecure(oauthClientCredentials({ clientId: 'c', clientSecret: 's', tokenUrl })),
    });
    try {
      const error = await client.listDeployments().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AthenaAuthError);
      expect((error as AthenaAuthError).message).toContain('HTTP 401');
      expect((error as AthenaAuthError).message).toContain('access_denied: Unauthorized');
    } finally {
      client.close();
    }
  });
});
