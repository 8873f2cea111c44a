/**
 * Fail fast and say it once (issue 11): when the service cannot be used at all, `classify` reads
 * no image, prints one message with the cause and what to do, and exits 3.
 */
import { selfSignedCert } from '../helpers/selfSignedCert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo, type FakeIo } from './fakeIo';

const root = join(__dirname, '../..');
const SAMPLES = 8;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-failfast-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs classify on samples/ (8 images) and checks what every such failure shares. */
async function failFast(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ io: FakeIo; message: string }> {
  const io = fakeIo({ cwd: root, env });
  const summary = join(tmp, `summary-${Math.random().toString(36).slice(2)}.json`);
  const code = await main(['classify', 'samples', '--format', 'jsonl', '--summary-file', summary, ...args], io);
  expect(code).toBe(3);
  expect(io.out()).toBe(''); // no per-image lines
  const lines = io.err().trim().split('\n');
  const messages = lines.filter((l) => l.startsWith('athena-rx classify: '));
  expect(messages).toHaveLength(1);
  expect(io.err()).not.toMatch(/TRANSPORT_FAILED|succeeded|bytes:/);
  expect(lines[lines.length - 1]).toBe(`nothing was read or sent: ${SAMPLES} images not attempted`);
  const written = JSON.parse(readFileSync(summary, 'utf8'));
  expect(written).toMatchObject({
    status: 'unavailable',
    exitStatus: 3,
    images: { total: SAMPLES, succeeded: 0, failed: 0, notAttempted: SAMPLES },
    bytes: { read: 0, prepared: 0, sent: 0 },
  });
  expect(written.message).toBe(messages[0]!.slice('athena-rx classify: '.length));
  return { io, message: messages[0]! };
}

describe('classify when the service cannot be used', () => {
  let plain: AthenaTestServer;
  let secure: AthenaTestServer;
  beforeAll(async () => {
    plain = await startAthenaServer({ tokens: { 'good-token': '*' } });
    secure = await startAthenaServer({ tls: selfSignedCert(), tokens: { 'good-token': '*' } });
  });
  afterAll(async () => {
    await plain.stop();
    await secure.stop();
  });

  it('nothing listening at the address: one message, exit 3, nothing read (it used to print a TRANSPORT_FAILED line per image)', async () => {
    const { message } = await failFast(['--address', '127.0.0.1:1', '--insecure']);
    expect(message).toMatch(/nothing is listening at 127\.0\.0\.1:1 \(connection refused\)\. Check --address/);
    expect(message).not.toMatch(/--insecure/); // already given
  });

  it('a refused token: one message that points at the credentials', async () => {
    const { message } = await failFast(['--address', plain.address, '--insecure'], { ATHENA_TOKEN: 'wrong' });
    expect(message).toMatch(
      new RegExp(`${plain.address} refused the credentials \\(UNAUTHENTICATED: unknown bearer token\\)\\. Check the token`),
    );
  });

  it('TLS to a plaintext server: says so and suggests --insecure', async () => {
    const { message } = await failFast(['--address', plain.address, '--token', 'good-token']);
    expect(message).toMatch(/does not speak TLS .*add --insecure/);
  });

  it('plaintext to a TLS server: suggests dropping --insecure, not adding it', async () => {
    const { message } = await failFast(['--address', secure.address, '--insecure', '--token', 'good-token']);
    expect(message).toMatch(/closed the plaintext connection .*If the server uses TLS, drop --insecure/);
  });

  it('an untrusted certificate: suggests --ca-file', async () => {
    const { message } = await failFast(['--address', secure.address, '--token', 'good-token']);
    expect(message).toMatch(/the certificate of 127\.0\.0\.1:\d+ is not trusted \(UNAVAILABLE: .*self-signed certificate.*--ca-file/);
    expect(message).not.toMatch(/--insecure/);
  });

  it('a static token that has expired (JWT exp) is refused before anything is sent', async () => {
    const expired = ['{"alg":"none"}', '{"exp":1000000000}', ''].map((p) => Buffer.from(p).toString('base64url')).join('.') + 'x';
    const { message } = await failFast(['--address', plain.address, '--insecure', '--token', expired]);
    expect(message).toMatch(/the token expired at 2001-09-09T01:46:40\.000Z/);
  });

  describe('a token endpoint that never answers', () => {
    let silent: Server;
    let url: string;
    beforeAll(async () => {
      silent = createServer(() => undefined);
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/oauth/token`;
    });
    afterAll(async () => {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    });

    it('is given up after --token-timeout, retries included, with progress on stderr while waiting', async () => {
      const env = { ATHENA_CLIENT_ID: 'id', ATHENA_CLIENT_SECRET: 'secret-value', ATHENA_TOKEN_URL: url };
      const { io, message } = await failFast(['--address', plain.address, '--insecure', '--token-timeout', '3'], env);
      // The progress line comes at 2 s, then every 3 s: one line, given up at 3 s. (It used to
      // retry for the library's 10 s budget: lines at 2, 5 and 8 s.)
      expect(io.err().match(/waiting for an access token/g)).toEqual([`waiting for an access token`]);
      expect(io.err()).toContain(`waiting for an access token from ${url} (2 s)...`);
      expect(message).toBe(
        `athena-rx classify: could not get an access token: Token endpoint ${url} did not answer within 3000 ms. Check the network and ATHENA_TOKEN_URL (--token-timeout waits longer)`,
      );
    });
  });
});

describe('e2e when the service cannot be used', () => {
  it('exits 3 with one message before reading any image', async () => {
    const dir = join(tmp, 'case');
    mkdirSync(join(dir, 'images'), { recursive: true });
    copyFileSync(join(root, 'samples/duck-pond.png'), join(dir, 'images/duck-pond.png'));
    writeFileSync(
      join(dir, 'expected_outputs.json'),
      JSON.stringify({ classification_labels: ['UnknownCSAM-Ducks'], images: [['duck-pond.png', [0.5]]] }),
    );
    const io = fakeIo({ cwd: root });
    expect(await main(['e2e', dir, '--address', '127.0.0.1:1', '--insecure'], io)).toBe(3);
    expect(io.err().trim().split('\n')).toEqual([
      'athena-rx e2e: nothing is listening at 127.0.0.1:1 (connection refused). Check --address (ATHENA_ADDRESS) and that the server is running',
    ]);
    expect(io.out()).toBe('');
  });
});
