/**
 * Output that survives (issue 12): no terminal or spreadsheet injection through file names, no
 * overwrite without --force, --resume that finishes what an earlier run started, a JSON document
 * that parses after every record, and a full disk that ends the run with a clear error.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { createWriter, csvField, fileSink, terminalSafe, type ResultRecord } from '../../src/cli/output';
import { parsePreviousOutput } from '../../src/cli/resume';
import { fakeIo } from './fakeIo';

const DUCK = join(__dirname, '../../samples/duck-pond.png');
const NOT_AN_IMAGE = join(__dirname, '../fixtures/not-an-image.jpg');
let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-output-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** Control characters other than the newline that ends each line. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;

/** Names that attack a terminal (clear screen, window title, a newline that splits a row) or a spreadsheet. */
const HOSTILE = [
  '\x1b[2J\x1b]0;pwned\x07clear.png',
  'two\nlines.png',
  '=HYPERLINK("http://x")&A1.png',
  '+1+2.png',
  '-3.png',
  '@SUM(A1).png',
  "'quoted.png",
];

const record = (file: string, outcome: 'success' | 'failure' = 'success'): ResultRecord => ({
  file,
  correlationId: 'c',
  outcome,
  labels: outcome === 'success' ? { 'UnknownCSAM-Ducks': 0.5 } : {},
  errorCode: outcome === 'success' ? null : 'DECODE_FAILED',
  errorMessage: outcome === 'success' ? null : `bad \x1b[31m${file}`,
  attempts: 1,
});

describe('terminal and spreadsheet injection', () => {
  it('terminalSafe escapes C0, C1, DEL and bidi overrides, nothing else', () => {
    expect(terminalSafe('a\x1b[2Jb\x07c\nd\re\x7f\x9b\u202eé日本')).toBe(
      'a\\x1b[2Jb\\x07c\\nd\\re\\x7f\\x9b\\u202eé日本'.replace('\\n', '\\x0a').replace('\\r', '\\x0d'),
    );
  });

  it('the table escapes control characters in names and messages: one row per image, no escape sequence', async () => {
    for (const name of HOSTILE.slice(0, 2)) copyFileSync(NOT_AN_IMAGE, join(tmp, name));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', '.'], io)).toBe(1);
    const rows = io.out().split('\n').filter(Boolean);
    expect(rows).toHaveLength(3);
    expect(io.out()).not.toMatch(CONTROL);
    expect(io.out()).toContain('\\x1b[2J\\x1b]0;pwned\\x07clear.png');
    expect(io.out()).toContain('two\\x0alines.png');
    // The stderr summary's example of a failure is escaped too.
    expect(io.err()).not.toMatch(CONTROL);
  });

  it('CSV cells that a spreadsheet would run as formulas are neutralised, and read back exactly', () => {
    for (const name of HOSTILE) expect(csvField(name)).not.toMatch(/^"?[=+\-@\t\r]/);
    expect(csvField('=1+2')).toBe(`"'=1+2"`);
    expect(csvField('\t=1')).toBe(`"'\t=1"`);
    expect(csvField('plain.png')).toBe('plain.png');
    const chunks: string[] = [];
    const writer = createWriter('csv', { write: (t) => void chunks.push(t), close: () => undefined }, { top: 3, fileWidth: 10 });
    writer.begin();
    for (const name of HOSTILE) writer.write(record(name, 'failure'));
    writer.end();
    const back = parsePreviousOutput(chunks.join(''), 'x.csv');
    expect(back.records.map((r) => [r.file, r.errorMessage])).toEqual(HOSTILE.map((n) => [n, `bad \x1b[31m${n}`]));
  });
});

describe('the output file', () => {
  const setup = (): void => {
    copyFileSync(DUCK, join(tmp, 'a.png'));
    copyFileSync(DUCK, join(tmp, 'b.png'));
    copyFileSync(DUCK, join(tmp, 'c.png'));
    copyFileSync(NOT_AN_IMAGE, join(tmp, 'd.png'));
  };

  it('a non-empty output file is not replaced without --force', async () => {
    setup();
    writeFileSync(join(tmp, 'out.jsonl'), '{"file":"precious"}\n');
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--format', 'jsonl', '--output', 'out.jsonl'], io)).toBe(2);
    expect(io.err()).toMatch(
      /--output 'out\.jsonl' already holds results \(20 bytes\): add --resume to go on from them, or --force to replace them/,
    );
    expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).toBe('{"file":"precious"}\n');
    const forced = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--format', 'jsonl', '--output', 'out.jsonl', '--force'], forced)).toBe(0);
    expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).not.toContain('precious');
  });

  it.each(['jsonl', 'csv', 'json'] as const)(
    '--resume (%s) classifies only what has no final result, and every input ends up once',
    async (format) => {
      setup();
      const out = join(tmp, `out.${format}`);
      // An earlier run: a.png done, d.png failed for good (its format), b.png failed with the service down.
      const chunks: string[] = [];
      const writer = createWriter(format, { write: (t) => void chunks.push(t), close: () => undefined }, { top: 3, fileWidth: 5 });
      writer.begin();
      writer.write({ ...record('a.png'), correlationId: 'kept-a' });
      writer.write({ ...record('d.png', 'failure'), errorCode: 'UNSUPPORTED_FORMAT', correlationId: 'kept-d' });
      writer.write({ ...record('b.png', 'failure'), errorCode: 'TRANSPORT_FAILED' });
      // Killed there (json: no closing bracket; jsonl and csv: a half line from an older version).
      writeFileSync(out, chunks.join('') + (format === 'json' ? '' : format === 'csv' ? 'c.png,x,succ' : '{"file":"c.png","outc'));
      const io = fakeIo({ cwd: tmp });
      expect(await main(['classify', 'a.png', 'b.png', 'c.png', 'd.png', '--output', `out.${format}`, '--resume'], io)).toBe(1);
      const records = parsePreviousOutput(readFileSync(out, 'utf8'), out).records;
      expect(records.map((r) => r.file).sort()).toEqual(['a.png', 'b.png', 'c.png', 'd.png']);
      expect(records.find((r) => r.file === 'a.png')?.correlationId).toBe('kept-a');
      expect(records.find((r) => r.file === 'd.png')?.correlationId).toBe('kept-d');
      expect(records.find((r) => r.file === 'b.png')?.outcome).toBe('success');
      expect(io.err()).toMatch(/2 images in .*: 2 succeeded, 0 failed/);
      expect(io.err()).toMatch(/resumed: 2 inputs already had a final result in out\.\w+/);
      if (format === 'json') JSON.parse(readFileSync(out, 'utf8'));
      // Nothing left: a second resume classifies nothing and changes nothing.
      const before = readFileSync(out, 'utf8');
      const again = fakeIo({ cwd: tmp });
      // Exit 1 still: d.png's failure, kept from the first run, is part of this output.
      expect(await main(['classify', 'a.png', 'b.png', 'c.png', 'd.png', '--output', `out.${format}`, '--resume'], again)).toBe(1);
      expect(again.err()).toMatch(/resumed: 4 inputs already had a final result in out\.\w+ \(1 of them failed\)/);
      expect(parsePreviousOutput(readFileSync(out, 'utf8'), out).records).toEqual(parsePreviousOutput(before, out).records);
      expect(readdirSync(tmp).filter((n) => n.includes('.tmp'))).toEqual([]);
    },
  );

  it('--resume before there is anything to resume (a script that always passes it): a normal run, format from the extension', async () => {
    copyFileSync(DUCK, join(tmp, 'a.png'));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--output', 'out.csv', '--resume'], io)).toBe(0);
    expect(parsePreviousOutput(readFileSync(join(tmp, 'out.csv'), 'utf8'), 'out.csv')).toMatchObject({
      format: 'csv',
      records: [{ file: 'a.png', outcome: 'success' }],
    });
  });

  it('--resume and --force are checked before any work', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--resume'], /--resume needs --output FILE/],
      [['--force'], /--force only applies with --output FILE/],
      [['--output', 'o', '--resume', '--force'], /--resume and --force contradict each other/],
    ];
    copyFileSync(DUCK, join(tmp, 'a.png'));
    for (const [args, message] of cases) {
      const io = fakeIo({ cwd: tmp });
      expect(await main(['classify', 'a.png', ...args], io)).toBe(2);
      expect(io.err()).toMatch(message);
    }
    writeFileSync(join(tmp, 'out.txt'), 'FILE  RESULT\n');
    const table = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--output', 'out.txt', '--resume'], table)).toBe(2);
    expect(table.err()).toMatch(/'out\.txt' is not the jsonl, csv or json output of athena-rx classify/);
    writeFileSync(join(tmp, 'out.jsonl'), '{"file":"a.png","outcome":"success"}\n');
    const mismatch = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--output', 'out.jsonl', '--resume', '--format', 'csv'], mismatch)).toBe(2);
    expect(mismatch.err()).toMatch(/holds jsonl output, not csv/);
  });

  it('a JSON output file is a complete document after every record (a crash leaves it parseable)', () => {
    const path = join(tmp, 'out.json');
    const sink = fileSink(path);
    const writer = createWriter('json', sink, { top: 3, fileWidth: 5 });
    writer.begin();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual([]);
    writer.write(record('a.png'));
    expect(JSON.parse(readFileSync(path, 'utf8'))).toHaveLength(1);
    writer.write(record('b.png'));
    expect(JSON.parse(readFileSync(path, 'utf8'))).toHaveLength(2);
    writer.end();
    sink.close();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toHaveLength(2);
  });

  it('a full disk (/dev/full) ends the run with a clear error and exit 1, nothing counted that was not written', async () => {
    setup();
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', 'b.png', '--format', 'jsonl', '--output', '/dev/full'], io)).toBe(1);
    expect(io.err()).toMatch(
      /athena-rx classify: cannot write '\/dev\/full': no space left on device \(ENOSPC\); 0 results were written before it, the rest not/,
    );
    expect(io.err()).toMatch(/0 images in .*: 0 succeeded, 0 failed/);
  });

  it('--output into a folder that does not exist: exit 2 before any work', async () => {
    setup();
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'a.png', '--output', 'gone/out.jsonl'], io)).toBe(2);
    expect(io.err()).toMatch(/--output: cannot write 'gone\/out\.jsonl' \(ENOENT/);
  });

  it('the output file deleted during the run: exit 1 and a message that its results are lost', async () => {
    setup();
    mkdirSync(join(tmp, 'out'));
    const io = fakeIo({ cwd: tmp });
    const run = main(['classify', 'a.png', '--format', 'jsonl', '--output', 'out/r.jsonl'], io);
    // Removed as soon as it exists (before the first result is written).
    while (!existsSync(join(tmp, 'out/r.jsonl'))) await new Promise((r) => setImmediate(r));
    rmSync(join(tmp, 'out'), { recursive: true });
    expect(await run).toBe(1);
    expect(io.err()).toMatch(/the output file 'out\/r\.jsonl' was deleted during the run: the results written to it are lost/);
  });
});
