import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import { startAthenaServer, type AthenaTestServer as AthenaServer } from '../../src/testing';
import { AthenaTestingError } from '../../src/testing/errors';

/** The SETTINGS and connection window a plain HTTP/2 client is granted by `server`. */
async function granted(server: AthenaServer): Promise<{ settings: Settings; connectionWindow: number }> {
  const session: ClientHttp2Session = connect(`http://${server.address}`);
  try {
    await new Promise<Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    // The server's own SETTINGS and WINDOW_UPDATE follow its initial SETTINGS frame, before it
    // answers a PING: after the round trip both have arrived.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return { settings: session.remoteSettings, connectionWindow: session.state.remoteWindowSize ?? NaN };
  } finally {
    session.close();
  }
}

describe('startAthenaServer: HTTP/2 flow-control window (issue 6)', () => {
  let server: AthenaServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('grants 16 MiB per stream and per connection by default, so a 19 MB request is not sent 64 KiB at a time', async () => {
    server = await startAthenaServer();
    const { settings, connectionWindow } = await granted(server);
    expect(settings.initialWindowSize).toBe(16 * 1024 * 1024);
    expect(connectionWindow).toBe(16 * 1024 * 1024);
  });

  it('grants the window it is given, down to HTTP/2 default of 65,535', async () => {
    server = await startAthenaServer({ flowControlWindow: 1024 * 1024 });
    expect((await granted(server)).settings.initialWindowSize).toBe(1024 * 1024);
    await server.stop();
    server = await startAthenaServer({ flowControlWindow: 65_535 });
    const { settings, connectionWindow } = await granted(server);
    expect(settings.initialWindowSize).toBe(65_535);
    expect(connectionWindow).toBe(65_535);
  });

  it('refuses a window HTTP/2 cannot express', async () => {
    for (const flowControlWindow of [1000, 2 ** 31, 1.5e6 + 0.5]) {
      const error: unknown = await startAthenaServer({ flowControlWindow }).then(
        (started) => (server = started),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AthenaTestingError);
      expect(error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('flowControlWindow') });
    }
  });
});
