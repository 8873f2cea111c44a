/**
 * A first check before any work (issue 22): with a wrong address, code used to wait the pipeline's
 * full giveUpAfter (60 s) before every image failed; `waitForReady` says so at once.
 */
import { AthenaTransportError, createAthenaClient, insecure, waitForReady } from '../../src';
import { startAthenaServer } from '../../src/testing';

describe('waitForReady', () => {
  it('resolves with the deployments of a server that answers', async () => {
    const server = await startAthenaServer();
    const client = createAthenaClient({ address: server.address, credentials: insecure() });
    try {
      await expect(waitForReady(client)).resolves.toEqual({ deployments: [] });
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('nothing listening at the address: rejects with UNAVAILABLE once timeoutMs is spent, not after giveUpAfter', async () => {
    const client = createAthenaClient({ address: '127.0.0.1:1', credentials: insecure() });
    const startedAt = performance.now();
    try {
      const err = await waitForReady(client, { timeoutMs: 1_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AthenaTransportError);
      expect(err).toMatchObject({ code: 'UNAVAILABLE', details: expect.stringMatching(/ECONNREFUSED|connect/i) });
      // Generous: the point is seconds, not the pipeline's minute.
      expect(performance.now() - startedAt).toBeLessThan(30_000);
    } finally {
      client.close();
    }
  });

  it('a server that comes up while it waits: resolves once it answers', async () => {
    const first = await startAthenaServer();
    const port = first.port;
    await first.stop();
    const client = createAthenaClient({ address: `127.0.0.1:${port}`, credentials: insecure() });
    const ready = waitForReady(client, { timeoutMs: 60_000 });
    const server = await startAthenaServer({ port });
    try {
      await expect(ready).resolves.toEqual({ deployments: [] });
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('a refused token rejects at once with UNAUTHENTICATED (asking again would not help)', async () => {
    const server = await startAthenaServer({ tokens: { good: '*' } });
    const client = createAthenaClient({ address: server.address, credentials: insecure('wrong') });
    try {
      await expect(waitForReady(client, { timeoutMs: 600_000 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      client.close();
      await server.stop();
    }
  });
});
