/**
 * TLS with a custom root CA (athena-api.md section 5: gRPC over TLS), against the in-process
 * server serving a certificate made here with openssl for 127.0.0.1 and localhost.
 */
import { selfSignedCert } from '../helpers/selfSignedCert';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { AthenaTransportError, createAthenaClient, insecure, tls } from '../../src/transport';

describe('TLS with a custom root CA', () => {
  let server: AthenaTestServer;
  let cert: Buffer;
  beforeAll(async () => {
    const pair = selfSignedCert();
    cert = pair.cert;
    server = await startAthenaServer({ tls: pair, tokens: { 'tls-token': '*' } });
  });
  afterAll(() => server.stop());

  it.each(['127.0.0.1', 'localhost'])('trusts the server certificate given as rootCerts (host %s) and sends the token', async (host) => {
    const client = createAthenaClient({ address: `${host}:${server.port}`, credentials: tls({ rootCerts: cert, token: 'tls-token' }) });
    try {
      await expect(client.listDeployments({ deadline: 10_000 })).resolves.toHaveProperty('deployments');
    } finally {
      client.close();
    }
  });

  it('without the root CA the certificate is refused: UNAVAILABLE', async () => {
    const client = createAthenaClient({ address: server.address, credentials: tls({ token: 'tls-token' }) });
    try {
      const error = await client.listDeployments({ deadline: 10_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AthenaTransportError);
      expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      client.close();
    }
  });

  it('a plaintext client cannot talk to a TLS server', async () => {
    const client = createAthenaClient({ address: server.address, credentials: insecure('tls-token') });
    try {
      await expect(client.listDeployments({ deadline: 5_000 })).rejects.toBeInstanceOf(AthenaTransportError);
    } finally {
      client.close();
    }
  });

  it('serverName verifies against a name other than the address host', async () => {
    const client = createAthenaClient({
      address: `127.0.0.1:${server.port}`,
      credentials: tls({ rootCerts: cert, serverName: 'localhost', token: 'tls-token' }),
    });
    try {
      await expect(client.listDeployments({ deadline: 10_000 })).resolves.toHaveProperty('deployments');
    } finally {
      client.close();
    }
  });

  it('a serverName the certificate does not name is refused', async () => {
    const client = createAthenaClient({
      address: `127.0.0.1:${server.port}`,
      credentials: tls({ rootCerts: cert, serverName: 'elsewhere.example', token: 'tls-token' }),
    });
    try {
      await expect(client.listDeployments({ deadline: 10_000 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      client.close();
    }
  });
});
