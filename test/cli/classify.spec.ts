import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { resolveConnection } from '../../src/cli/connect';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo } from './fakeIo';

const root = join(__dirname, '../..');
/** The eight demo images, and `test/fixtures/not-an-image.jpg`, a text file with an image name. */
const SAMPLE_COUNT = 9;
/** Images that decode (448x448 already, so quick to prepare). */
const GOOD = ['samples/duck-pond.png'];
const BAD = 'test/fixtures/not-an-image.jpg';

let tmp: string;
/**
 * A small folder for the format tests: duck-pond.png is already 448x448 (no resize, which is
 * slow under jest's VM), under three names, one with an upper-case extension in a subfolder,
 * and the undecodable sample.
 */
let few: string;
const FEW_COUNT = 4;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-cli-'));
  few = join(tmp, 'few');
  mkdirSync(join(few, 'sub'), { recursive: true });
  copyFileSync(join(root, 'samples/duck-pond.png'), join(few, 'duck-pond.png'));
  copyFileSync(join(root, 'samples/duck-pond.png'), join(few, 'duck-copy.png'));
  copyFileSync(join(root, 'samples/duck-pond.png'), join(few, 'sub/DUCK.PNG'));
  copyFileSync(join(root, BAD), join(few, 'not-an-image.jpg'));
  copyFileSync(join(root, 'samples/LICENSE.md'), join(few, 'README.md'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('athena-rx classify --samples (the demo) with the embedded server', () => {
  it('--format jsonl from another folder: one parseable line per image; the undecodable one fails with a code; exit 1', async () => {
    // From a folder without samples/, as in a project that installed the package.
    const io = fakeIo({ cwd: tmp });
    const code = await main(['classify', '--samples', join(root, BAD), '--format', 'jsonl'], io);
    expect(io.err()).toMatch(
      /no --address given: using the embedded test server at 127\.0\.0\.1:\d+ \(benign classifier\)\nnote: the embedded server's weights are synthetic/,
    );
    expect(io.err().match(/synthetic/g)).toHaveLength(1);
    const records = io
      .out()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records).toHaveLength(SAMPLE_COUNT);
    expect(new Set(records.map((r) => r.file)).size).toBe(SAMPLE_COUNT);
    // The bundled samples are named as in the docs, not by their path inside the package.
    expect(records.map((r) => r.file).filter((f) => f.startsWith('samples/'))).toHaveLength(SAMPLE_COUNT - 1);
    const bad = records.find((r) => r.file === join(root, BAD));
    expect(bad).toMatchObject({ outcome: 'failure', labels: {}, attempts: 0 });
    expect(bad.errorCode).toMatch(/^[A-Z_]+$/);
    for (const r of records.filter((x) => x !== bad)) {
      expect(r).toMatchObject({ outcome: 'success', errorCode: null, errorMessage: null });
      expect(typeof r.correlationId).toBe('string');
      expect(r.labels['UnknownCSAM-Ducks']).toEqual(expect.any(Number));
    }
    expect(code).toBe(1);
    // The summary: counts by outcome and code, bytes before and after compression.
    expect(io.err()).toMatch(/9 images in .*: 8 succeeded, 1 failed/);
    expect(io.err()).toMatch(new RegExp(`failed by code:\\n  ${bad.errorCode} +1  e\\.g\\. .*test/fixtures/not-an-image\\.jpg: `));
    expect(io.err()).toMatch(/bytes: .* read, .* of pixels prepared, .* sent/);
    // No progress line when stderr is not a terminal.
    expect(io.err()).not.toContain('\r');
    // Resizing runs far slower under jest's VM than in node; a loaded CI machine needs the room.
  }, 120_000);

  it('exits 0 when every image succeeds (a file and a quoted glob, each file once)', async () => {
    const io = fakeIo({ cwd: few });
    expect(await main(['classify', '--format', 'jsonl', 'duck-pond.png', '*.png', '**/*.PNG'], io)).toBe(0);
    const files = io
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).file)
      .sort();
    expect(files).toEqual(['duck-copy.png', 'duck-pond.png', 'sub/DUCK.PNG']);
    // A glob that matches nothing is a usage error, before any work.
    const none = fakeIo({ cwd: few });
    expect(await main(['classify', '*.gif'], none)).toBe(2);
    expect(none.err()).toMatch(/the pattern '\*\.gif' matches no image files/);
  });

  it('table (default): a header and a row per image with its top labels', async () => {
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'few', '--top', '2'], io)).toBe(1);
    const lines = io.out().trim().split('\n');
    expect(lines[0]).toMatch(/^FILE\s+RESULT\s+PCSAM\s+TOP 2 LABELS$/);
    expect(lines).toHaveLength(FEW_COUNT + 1);
    const duck = lines.find((l) => l.startsWith('few/duck-pond.png'))!;
    // PCSAM in its own column (issue 22), not ranked among the categories.
    expect(duck).toMatch(/ ok +\d\.\d{4}  UnknownCSAM-\w+ \d\.\d{4}  UnknownCSAM-\w+ \d\.\d{4}$/);
    expect(duck).not.toMatch(/Entropy|PCSAM/);
    expect(lines.find((l) => l.startsWith('few/not-an-image.jpg'))).toMatch(/ FAILED  -  +[A-Z_]+: /);
    expect(lines.some((l) => l.startsWith('few/sub/DUCK.PNG '))).toBe(true);
  });

  it('--format csv: a header and a line per image', async () => {
    const io = fakeIo({ cwd: few });
    expect(await main(['classify', '.', '--format', 'csv'], io)).toBe(1);
    const lines = io.out().trim().split('\n');
    expect(lines[0]).toBe('file,correlation_id,outcome,error_code,error_message,attempts,labels');
    expect(lines).toHaveLength(FEW_COUNT + 1);
    const duck = lines.find((l) => l.startsWith('duck-pond.png,'))!.split(',');
    expect(duck[2]).toBe('success');
    expect(duck[5]).toBe('1');
    expect(duck[6]).toMatch(/^UnknownCSAM-Lakeside=0\.\d+;/);
    expect(lines.find((l) => l.startsWith('not-an-image.jpg,'))).toMatch(/,failure,[A-Z_]+,/);
  });

  it('--format json --output FILE: a JSON array in the file, nothing on stdout', async () => {
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'few', '--format', 'json', '--output', 'results.json'], io)).toBe(1);
    expect(io.out()).toBe('');
    const records = JSON.parse(readFileSync(join(tmp, 'results.json'), 'utf8'));
    expect(records).toHaveLength(FEW_COUNT);
    expect(records.filter((r: { outcome: string }) => r.outcome === 'success')).toHaveLength(FEW_COUNT - 1);
  });

  it('--output with jsonl and uncompressed pixels: lines in the file; the summary says uncompressed', async () => {
    const io = fakeIo({ cwd: root });
    const out = join(tmp, 'results.jsonl');
    expect(
      await main(
        [
          'classify',
          GOOD[0]!,
          '--format',
          'jsonl',
          '--output',
          out,
          '--brotli-quality',
          '0',
          '--hashes',
          'none',
          '--batch-size',
          '1',
          '--in-flight',
          '1',
          '--concurrency',
          '1',
        ],
        io,
      ),
    ).toBe(0);
    const [record] = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(record.labels['KnownCSAM-MD5']).toBeUndefined();
    expect(io.err()).toMatch(/602 kB of pixels prepared, 602 kB sent \(100% of the pixels; uncompressed\)/);
  });
});

describe('athena-rx classify: bad usage exits 2 with what to fix', () => {
  const cases: Array<[string[], RegExp]> = [
    [['samples', '--bogus'], /Unknown option '--bogus'/],
    [['samples', '--format', 'xml'], /--format must be one of table, jsonl, csv, json/],
    [['samples', '--batch-size', '0'], /--batch-size must be between 1 and 50/],
    [['samples', '--batch-size', 'ten'], /--batch-size must be a whole number/],
    [['samples', '--brotli-quality', '12'], /--brotli-quality must be between 0 and 11/],
    [['samples', '--hashes', 'sha256'], /--hashes takes md5, sha1/],
    [['samples', '--in-flight', '4', '--batch-size', '8'], /--in-flight \(4\) must be at least --batch-size \(8\)/],
    [[], /give at least one image file, folder or glob/],
    [['no/such/place'], /no such file or folder: 'no\/such\/place'/],
    [['samples', '--insecure'], /--insecure given but no server address: add --address/],
    [['samples', '--address', 'localhost'], /--address must be HOST:PORT/],
    [
      ['samples', '--address', 'localhost:50051', '--token', 't', '--client-id', 'c'],
      /both a static token \(--token\) and client credentials \(--client-id\)/,
    ],
    [['samples', '--address', 'localhost:50051', '--client-id', 'c'], /no client secret: set ATHENA_CLIENT_SECRET/],
    [['samples', '--address', 'localhost:50051', '--insecure', '--ca-file', 'x.pem'], /--insecure and --ca-file contradict/],
    [['samples', '--deployment-id', 'x'.repeat(65)], /a deployment id is 65 characters long; the service accepts at most 64/],
    // Credentials in plaintext to another machine (issue 12).
    [
      ['samples', '--address', '10.0.0.5:50051', '--insecure', '--token', 't'],
      /--insecure would send the token in plaintext to 10\.0\.0\.5:50051, which is not loopback: .*--allow-plaintext-credentials/,
    ],
    [
      [
        'samples',
        '--address',
        'athena.example:443',
        '--client-id',
        'c',
        '--client-secret',
        's',
        '--token-url',
        'http://auth.example/token',
      ],
      /--token-url is plaintext http and would send the client secret unencrypted to auth\.example: .*--allow-plaintext-credentials/,
    ],
    [
      ['samples', '--address', 'athena.example:443', '--token', 't', '--ca-file', 'samples/LICENSE.md'],
      /--ca-file 'samples\/LICENSE\.md' is not PEM: expected PEM text with a -----BEGIN CERTIFICATE----- line/,
    ],
  ];
  it.each(cases)('classify %j', async (args, message) => {
    const io = fakeIo({ cwd: root });
    expect(await main(['classify', ...args], io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).toMatch(/^athena-rx classify: /);
    expect(io.out()).toBe('');
  });

  it('--allow-plaintext-credentials lets credentials travel in plaintext; loopback needs no flag', () => {
    const remote = { address: '10.0.0.5:50051', insecure: true, token: 't' };
    expect(() => resolveConnection(remote, {})).toThrow(/not loopback/);
    expect(resolveConnection({ ...remote, 'allow-plaintext-credentials': true }, {})).toMatchObject({
      kind: 'remote',
      secure: false,
      allowPlaintextCredentials: true,
    });
    expect(resolveConnection({ ...remote, address: '127.0.0.1:50051' }, {})).toMatchObject({ kind: 'remote', secure: false });
    // Plaintext asked for through the environment is named as such.
    expect(() => resolveConnection({ address: '10.0.0.5:50051', token: 't' }, { ATHENA_INSECURE: '1' })).toThrow(
      /^ATHENA_INSECURE would send the token in plaintext to 10\.0\.0\.5:50051/,
    );
    const oauth = { address: 'athena.example:443', 'client-id': 'c', 'client-secret': 's', 'token-url': 'http://localhost:8080/token' };
    expect(resolveConnection(oauth, {})).toMatchObject({ auth: { kind: 'oauth', tokenUrl: 'http://localhost:8080/token' } });
  });

  it('outside a clone `classify samples/` finds no folder: the message points at --samples', async () => {
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'samples/'], io)).toBe(2);
    expect(io.err()).toBe(
      "athena-rx classify: no such file or folder: 'samples/'; for the sample images shipped with the package use --samples\n",
    );
  });

  it.each<[NodeJS.ProcessEnv, string[], RegExp]>([
    [{ ATHENA_INSECURE: '1' }, [], /ATHENA_INSECURE given but no server address/],
    [
      { ATHENA_ADDRESS: 'localhost:50051', ATHENA_INSECURE: 'maybe' },
      [],
      /ATHENA_INSECURE must be 1 \(plaintext, for a local server\) or 0, got 'maybe'/,
    ],
    [{ ATHENA_ADDRESS: 'localhost:50051', ATHENA_INSECURE: '1' }, ['--ca-file', 'x.pem'], /ATHENA_INSECURE and --ca-file contradict/],
  ])('reads ATHENA_INSECURE as the examples do: %j %j', async (env, extra, message) => {
    const io = fakeIo({ cwd: root, env });
    expect(await main(['classify', 'samples', ...extra], io)).toBe(2);
    expect(io.err()).toMatch(message);
  });

  it('reads the environment: ATHENA_CLIENT_ID without an address is a contradiction', async () => {
    const io = fakeIo({ cwd: root, env: { ATHENA_CLIENT_ID: 'abc' } });
    expect(await main(['classify', 'samples'], io)).toBe(2);
    expect(io.err()).toMatch(/ATHENA_CLIENT_ID given but no server address/);
  });
});

describe('against a server given by --address', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer({ tokens: { 'good-token': '*' } });
  });
  afterAll(() => server.stop());

  it('classify with a token from ATHENA_TOKEN, then deployments lists its deployment', async () => {
    const env = { ATHENA_ADDRESS: server.address, ATHENA_TOKEN: 'good-token', ATHENA_DEPLOYMENT_ID: 'cli-test-deployment' };
    const io = fakeIo({ cwd: root, env });
    expect(await main(['classify', '--insecure', '--format', 'jsonl', GOOD[0]!, join(few, 'duck-copy.png')], io)).toBe(0);
    expect(io.err()).not.toMatch(/embedded/);
    expect(io.out().trim().split('\n')).toHaveLength(2);

    // ATHENA_INSECURE=1 is --insecure, as in the examples: one set of variables for both.
    const list = fakeIo({ cwd: root, env: { ...env, ATHENA_INSECURE: '1' } });
    expect(await main(['deployments'], list)).toBe(0);
    expect(list.out()).toMatch(/^DEPLOYMENT ID\s+BACKLOG\ncli-test-deployment\s+0\n$/);
    const json = fakeIo({ cwd: root, env });
    expect(await main(['deployments', '--insecure', '--format', 'json'], json)).toBe(0);
    expect(JSON.parse(json.out())).toEqual([{ deploymentId: 'cli-test-deployment', backlog: 0 }]);
  });

  it('a refused token: exit 3 before any image is read, one message that points at the credentials', async () => {
    const io = fakeIo({ cwd: root, env: { ATHENA_TOKEN: 'wrong' } });
    expect(await main(['classify', '--address', server.address, '--insecure', '--format', 'jsonl', GOOD[0]!], io)).toBe(3);
    expect(io.out()).toBe('');
    expect(io.err()).toMatch(/athena-rx classify: 127\.0\.0\.1:\d+ refused the credentials \(UNAUTHENTICATED.*\)\. Check the token/);
    expect(io.err()).not.toMatch(/TRANSPORT_FAILED/);
  });
});
