import * as net from 'node:net';
import Redis from 'ioredis';
import { freePort, startRedis } from './redisServer';

/**
 * The suites' redis-server helper. A port found free can be taken by another process before
 * redis-server binds it (another test run on the same machine, or an outgoing connection given it
 * as its local port): the helper then starts on another port instead of failing the suite.
 */
describe('startRedis', () => {
  it('starts on another port when the one it picked is taken before redis-server binds it', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const picked: number[] = [];
    // The first pick is the taken port (as if another process bound it in between), then free ones.
    const pickPort = async (): Promise<number> => {
      const port = picked.length === 0 ? takenPort : await freePort();
      picked.push(port);
      return port;
    };
    try {
      const server = await startRedis({ pickPort });
      try {
        expect(picked.length).toBeGreaterThanOrEqual(2);
        expect(picked[0]).toBe(takenPort);
        expect(server.port).toBe(picked[picked.length - 1]);
        const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
        expect(await client.ping()).toBe('PONG');
        client.disconnect();
      } finally {
        await server.stop();
      }
    } finally {
      taken.close();
    }
  });
});
