import * as net from 'node:net';
import { PassThrough } from 'node:stream';
import { runServe, parseServeArgs } from '../../src/cli/commands/serve';
import { UsageError, type CliIo } from '../../src/cli/io';
import { bearer, listDeployments, makeClient } from './helpers';

function fakeIo() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const io: CliIo = { stdout, stderr, env: {}, cwd: process.cwd() };
  return { io, out: () => out, err: () => err };
}

async function firstLine(read: () => string): Promise<string> {
  for (let i = 0; i < 500 && !read().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
  return read().split('\n')[0];
}

describe('athena-rx serve (issue 2: runs the server standalone)', () => {
  it('prints host:port as the first stdout line, answers ListDeployments, and resolves when stopped', async () => {
    const { io, out, err } = fakeIo();
    const abort = new AbortController();
    const done = runServe(['--port', '0', '--token', 'secret:aff1,aff2'], io, abort.signal);
    const address = await firstLine(out);
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const client = makeClient(address);
    await expect(listDeployments(client, bearer('secret'))).resolves.toEqual({ deployments: [] });
    client.close();
    abort.abort();
    await expect(done).resolves.toBe(0);
    expect(err()).toMatch(/stopped/);
  });

  it('stops on SIGINT (the signal handler is removed afterwards)', async () => {
    const { io, out } = fakeIo();
    const before = process.listenerCount('SIGINT');
    const done = runServe([], io);
    await firstLine(out);
    process.emit('SIGINT');
    await expect(done).resolves.toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('a port in use: one line that starts "athena-rx serve:" and names the address, exit 1, nothing from gRPC (issue 15)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    // gRPC logs through the console; a stray line from it would land on the user's stderr.
    const consoleError = jest.spyOn(console, 'error');
    try {
      const { io, out, err } = fakeIo();
      await expect(runServe(['--port', String(port)], io)).resolves.toBe(1);
      expect(out()).toBe('');
      expect(err()).toMatch(new RegExp(`^athena-rx serve: cannot listen on 127\\.0\\.0\\.1:${port}: .*in use.*\\n$`));
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
      blocker.close();
    }
  });

  it('bad flags are a UsageError', () => {
    for (const args of [['--port', 'abc'], ['--port', '70000'], ['--tls-cert', 'x'], ['--token', 'nocolon'], ['--bogus'], ['extra']]) {
      expect(() => parseServeArgs(args, process.cwd())).toThrow(UsageError);
    }
    expect(() => parseServeArgs(['--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.key'], process.cwd())).toThrow(/cannot read/);
  });

  it('parses tokens, host and port', () => {
    expect(parseServeArgs(['--host', '0.0.0.0', '--port', '5050', '--token', 'a:x,y', '--token', 'b:*'], process.cwd())).toEqual({
      host: '0.0.0.0',
      port: 5050,
      tokens: { a: ['x', 'y'], b: '*' },
    });
    expect(parseServeArgs(['--help'], process.cwd())).toBe('help');
  });
});
