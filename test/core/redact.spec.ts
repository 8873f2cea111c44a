/**
 * Redaction of every spelling (issue 22): a client secret or a Redis password never reaches a
 * message, however the other side echoes it (raw, URL-encoded, JSON-escaped, base64 in a Basic
 * header), on every error path that prints. A property test over 1,000+ random secrets, seeded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { AthenaAuthError, oauthClientCredentials } from '../../src/transport';
import { main } from '../../src/cli/main';
import { fakeIo } from '../cli/fakeIo';
import { diagnose } from '../../src/cli/preflight';
import { describeCallError } from '../../src/cli/errors';
import { redactUrl, resolveRedis } from '../../src/cli/redis';
import { terminalSafe } from '../../src/cli/terminal';
import type { ConnectionConfig } from '../../src/cli/connect';
import type { UsageError } from '../../src/cli/io';
import { redactor } from '../../src/core/redact';
// Seeded: the same secrets on every run, so a failure can be replayed.
import { prng } from '../../src/testing/faults';

/** Characters that each change some spelling: quotes, escapes, URL and JSON metacharacters, non-ASCII. */
const HOSTILE = [...'"\\/@:%+ ?#&=\'<>{}[]\n\t\u0001éß日本😀~*!$', ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.'];

function randomSecret(random: () => number): string {
  const length = 8 + Math.floor(random() * 40);
  let s = '';
  for (let i = 0; i < length; i++) s += HOSTILE[Math.floor(random() * HOSTILE.length)];
  // Every secret has at least one character that JSON or a URL escapes: the spellings differ.
  return s + HOSTILE[Math.floor(random() * 16)];
}

/**
 * What must not appear: the test's own list of spellings, written independently of the code under
 * test: raw, URL-encoded, JSON-escaped (and with `\/`), and base64 in a Basic header.
 */
function spellings(secret: string, user: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  return [
    secret,
    encodeURIComponent(secret),
    json,
    json.replace(/\//g, '\\/'),
    Buffer.from(`${user}:${secret}`).toString('base64'),
    Buffer.from(secret).toString('base64'),
  ];
}

/** Every way the token endpoint's answer can carry the request back, as `(secret) => Response`. */
const ECHOES: Array<[string, (secret: string, user: string) => Response | Promise<Response>]> = [
  [
    'a 401 whose error_description echoes the JSON request',
    (s, u) =>
      Response.json(
        { error: 'invalid_client', error_description: `got ${JSON.stringify({ client_id: u, client_secret: s })}` },
        { status: 401 },
      ),
  ],
  [
    'a 400 whose error echoes the form-encoded body',
    (s) => Response.json({ error: `client_secret=${encodeURIComponent(s)}` }, { status: 400 }),
  ],
  [
    'a 403 in plain text that echoes the JSON request after 190 characters (the secret straddles the 200-character cut)',
    (s) => new Response(`${'x'.repeat(190)}${JSON.stringify({ client_secret: s })}`, { status: 403 }),
  ],
  [
    'a 500 that echoes the Basic header',
    (s, u) => Response.json({ message: `Authorization: Basic ${Buffer.from(`${u}:${s}`).toString('base64')}` }, { status: 500 }),
  ],
  [
    'a 200 login page that echoes the raw secret',
    (s) => new Response(`<html>${s}</html>`, { status: 200, headers: { 'content-type': 'text/html' } }),
  ],
  [
    'a 200 HTML page that echoes the JSON-escaped secret with \\/',
    (s) => new Response(`<p>${JSON.stringify(s).replace(/\//g, '\\/')}</p>`, { status: 200 }),
  ],
  ['a 200 with the secret in base64', (s) => new Response(`secret=${Buffer.from(s).toString('base64')}`, { status: 200 })],
  [
    'a network error whose message holds the request',
    (s) => Promise.reject(new TypeError(`fetch failed: socket hang up after ${JSON.stringify({ client_secret: s })}`)),
  ],
];

const CONFIG: Extract<ConnectionConfig, { kind: 'remote' }> = {
  kind: 'remote',
  address: 'athena.example:443',
  secure: true,
  auth: { kind: 'oauth', clientId: 'id', clientSecret: 'unused' },
};

describe('redaction of every spelling: property test', () => {
  const SECRETS = 1_000;
  const random = prng(22);
  const cases = Array.from({ length: SECRETS }, () => ({ secret: randomSecret(random), user: `client-${Math.floor(random() * 1e6)}` }));

  it(`${SECRETS} random client secrets x ${ECHOES.length} echoing token endpoints: no spelling in any message the library or the CLI prints`, async () => {
    const leaks: Array<{ secret: string; text: string }> = [];
    // Collected and asserted once at the end: an expect() per case was a tenth of this test's time.
    const notAuthErrors: unknown[] = [];
    for (const { secret, user } of cases) {
      for (const [, echo] of ECHOES) {
        const provider = oauthClientCredentials({
          clientId: user,
          clientSecret: secret,
          tokenUrl: 'https://auth.example/oauth/token',
          fetch: () => Promise.resolve(echo(secret, user)),
          retryBudgetMs: 0, // each echo once: the retries print nothing else
        });
        const err = await provider.getToken().then(
          () => undefined,
          (e: unknown) => e,
        );
        if (!(err instanceof AthenaAuthError)) {
          notAuthErrors.push(err);
          continue;
        }
        const diagnosed = diagnose(err, CONFIG, 10_000);
        const printed = [
          err.message,
          err.error ?? '',
          err.errorDescription ?? '',
          diagnosed,
          terminalSafe(diagnosed),
          describeCallError(err, CONFIG.address),
        ];
        for (const text of printed)
          for (const spelling of spellings(secret, user)) if (text.includes(spelling)) leaks.push({ secret, text });
      }
    }
    expect(notAuthErrors.slice(0, 3)).toEqual([]);
    expect(leaks.slice(0, 3)).toEqual([]);
  });

  it('the messages still say what the endpoint answered, with [redacted] where the secret was', async () => {
    const secret = 'Abc"def\\ghi/1234';
    const provider = oauthClientCredentials({
      clientId: 'id',
      clientSecret: secret,
      tokenUrl: 'https://auth.example/oauth/token',
      fetch: () =>
        Promise.resolve(
          Response.json({ error: 'invalid_client', error_description: `{"client_secret":${JSON.stringify(secret)}}` }, { status: 401 }),
        ),
    });
    await expect(provider.getToken()).rejects.toThrow('HTTP 401: invalid_client: {"client_secret":"[redacted]"}');
  });

  it(`${SECRETS} random Redis passwords, raw or percent-encoded in the URL: redactUrl and the --redis error keep none of it`, () => {
    const leaks: string[] = [];
    // Collected and asserted once at the end, as above.
    const unexpected: string[] = [];
    for (const { secret } of cases) {
      for (const password of [secret, encodeURIComponent(secret)]) {
        for (const url of [`redis://admin:${password}@127.0.0.1:6379/0`, `rediss://:${password}@cache.internal:6380`]) {
          const shown = redactUrl(url);
          if (!/^rediss?:\/\/(admin:|:)?\*\*\*@/.test(shown)) unexpected.push(`redactUrl: ${shown}`);
          let message = '';
          try {
            resolveRedis({ redis: url.replace(/^rediss?/, 'http'), stream: 's' }, {});
          } catch (err) {
            message = (err as UsageError).message;
          }
          if (!/^--redis must be a redis:\/\/ or rediss:\/\/ URL/.test(message)) unexpected.push(`resolveRedis: ${message}`);
          for (const text of [shown, message])
            for (const spelling of spellings(secret, 'admin')) if (text.includes(spelling)) leaks.push(text);
        }
      }
    }
    expect(unexpected.slice(0, 3)).toEqual([]);
    expect(leaks.slice(0, 3)).toEqual([]);
  });

  it('a Redis password with @ is redacted whole; the host and database stay readable', () => {
    expect(redactUrl('redis://admin:er2@Secret@cache.internal:6379/2')).toBe('redis://admin:***@cache.internal:6379/2');
    expect(redactUrl('redis://admin:p?ss#w/rd@cache.internal:6379')).toBe('redis://***@cache.internal:6379');
    expect(redactUrl('redis://cache.internal:6379')).toBe('redis://cache.internal:6379');
  });

  it('short placeholders (under 6 characters) are not searched for, so messages are not garbled', () => {
    expect(redactor([{ secret: 'x' }])('six x')).toBe('six x');
  });
});

describe('redaction through the command line', () => {
  let echo: Server;
  let url: string;
  beforeAll(async () => {
    // A token endpoint that echoes the request it got, JSON-escaped inside its error, with 401.
    echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_client', error_description: `request was ${Buffer.concat(chunks).toString('utf8')}` }));
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/oauth/token`;
  });
  afterAll(() => new Promise((r) => echo.close(r)));

  it('classify with 25 random client secrets against an endpoint that echoes them: stderr and stdout hold none', async () => {
    const random = prng(2222);
    for (let k = 0; k < 25; k++) {
      const secret = randomSecret(random); // no NUL in the alphabet: an environment variable cannot hold one
      const io = fakeIo({
        cwd: join(__dirname, '../..'),
        env: { ATHENA_CLIENT_ID: 'cli-id', ATHENA_CLIENT_SECRET: secret, ATHENA_TOKEN_URL: url },
      });
      expect(
        await main(['classify', 'samples/duck-pond.png', '--address', '127.0.0.1:1', '--insecure', '--allow-plaintext-credentials'], io),
      ).toBe(3);
      expect(io.err()).toContain('[redacted]');
      for (const spelling of spellings(secret, 'cli-id')) {
        expect(io.err()).not.toContain(spelling);
        expect(io.err()).not.toContain(terminalSafe(spelling));
        expect(io.out()).not.toContain(spelling);
      }
    }
  });
});
