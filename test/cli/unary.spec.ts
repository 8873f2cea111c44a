import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo } from './fakeIo';

const samples = join(__dirname, '../../samples');

describe('athena-rx single', () => {
  it('prints every label of one image, heaviest first, against the embedded server', async () => {
    const io = fakeIo();
    const code = await main(['single', join(samples, 'duck-pond.png')], io);
    expect(io.err()).toMatch(/no --address given: using the embedded test server at 127\.0\.0\.1:\d+ \(benign classifier\)/);
    expect(code).toBe(0);
    const lines = io.out().trim().split('\n');
    expect(lines[1]).toMatch(/^LABEL\s+WEIGHT$/);
    const weights = lines.slice(2).map((l) => Number(l.trim().split(/\s+/)[1]));
    expect(lines.slice(2).some((l) => l.startsWith('UnknownCSAM-Ducks'))).toBe(true);
    expect(weights).toEqual([...weights].sort((a, b) => b - a));
  });

  it('--format json prints one record', async () => {
    const io = fakeIo();
    expect(await main(['single', '--format', 'json', '--hashes', 'md5', join(samples, 'storm.jpg')], io)).toBe(0);
    const record = JSON.parse(io.out());
    expect(record).toMatchObject({ outcome: 'success', errorCode: null });
    expect(record.labels['KnownCSAM-MD5']).toBe(0);
    expect(record.labels['KnownCSAM-SHA1']).toBeUndefined();
  });

  it('a file name with escape sequences is printed escaped, in the header and in errors (no terminal control)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'athena-single-'));
    try {
      const good = join(dir, 'a\u001b]0;pwned\u0007.png');
      copyFileSync(join(samples, 'duck-pond.png'), good);
      const bad = join(dir, 'b\u001b[2J.jpg');
      writeFileSync(bad, 'not an image');
      const ok = fakeIo();
      expect(await main(['single', good], ok)).toBe(0);
      const failed = fakeIo();
      expect(await main(['single', bad], failed)).toBe(1);
      for (const text of [ok.out(), failed.err()]) expect([...text].filter((c) => c === '\u001b' || c === '\u0007')).toEqual([]);
      expect(ok.out()).toContain('a\\x1b]0;pwned\\x07.png');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with the code for an undecodable image', async () => {
    const io = fakeIo();
    expect(await main(['single', join(samples, '../test/fixtures/not-an-image.jpg')], io)).toBe(1);
    expect(io.err()).toMatch(/not-an-image\.jpg: [A-Z_]+: /);
  });

  it.each([
    [[], /takes exactly one image file, got 0/],
    [[samples], /is a folder; single classifies one image file \(classify takes folders\)/],
    [[join(samples, 'no-such.jpg')], /no such file: '.*no-such\.jpg'/],
  ])('exits 2 before connecting for %j', async (args, message) => {
    const io = fakeIo();
    expect(await main(['single', ...args], io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).not.toMatch(/embedded test server/);
  });
});

describe('athena-rx deployments', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it('lists nothing on a fresh embedded server and says why', async () => {
    const io = fakeIo();
    expect(await main(['deployments'], io)).toBe(0);
    expect(io.out()).toBe('DEPLOYMENT ID  BACKLOG\n');
    expect(io.err()).toMatch(/no deployments/);
  });

  it("a deployment id with escape sequences (ids are anyone's to choose) is listed escaped", async () => {
    const id = '\x1b]0;pwned\x07\x1b[2Jdep';
    const make = fakeIo({ cwd: join(__dirname, '../..') });
    expect(await main(['classify', 'samples/duck-pond.png', '--address', server.address, '--insecure', '--deployment-id', id], make)).toBe(
      0,
    );
    const io = fakeIo();
    expect(await main(['deployments', '--address', server.address, '--insecure'], io)).toBe(0);
    expect(io.out()).toContain('\\x1b]0;pwned\\x07\\x1b[2Jdep');
    expect(io.out()).not.toContain('\x1b');
  });

  it('exits 1 with a hint when the server cannot be reached', async () => {
    const io = fakeIo();
    expect(await main(['deployments', '--address', '127.0.0.1:1', '--insecure', '--timeout', '2'], io)).toBe(1);
    expect(io.err()).toMatch(/cannot reach 127\.0\.0\.1:1 \(UNAVAILABLE/);
  });

  it('exits 2 for TLS without credentials, naming what to set', async () => {
    const io = fakeIo();
    expect(await main(['deployments', '--address', server.address], io)).toBe(2);
    expect(io.err()).toMatch(/no credentials for .*ATHENA_CLIENT_ID.*--insecure/);
  });
});
