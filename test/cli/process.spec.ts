/**
 * The CLI as a real process (issue 12): signals end a run and leave output that `--resume`
 * completes, each input exactly once across both runs; an unreadable subfolder is one failure
 * line while the rest classify. Runs `bin/athena-rx.js` from a transpiled copy of the package.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';

const DUCK = join(__dirname, '../../samples/duck-pond.png');
const ROCKET = join(__dirname, '../fixtures/preprocess/images/rocket-original.jpg');
const COUNT = 24;

let pkg: PackageCopy;
let tmp: string;
beforeAll(async () => {
  pkg = await transpiledPackage();
  chmodSync(dirname(pkg.dir), 0o755); // readable by nobody (below)
}, 120_000);
afterAll(() => pkg.remove());
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-process-'));
  chmodSync(tmp, 0o777); // the CLI may run as nobody (below) and writes its output here
});
/** Processes still running when a test ends (it failed) are killed, never left behind. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  readonly exited: () => boolean;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the CLI; as root, as `nobody`, so that file permissions apply. */
function cli(args: string[]): Run {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const child = spawn(process.execPath, [join(pkg.dir, 'bin/athena-rx.js'), ...args], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...asNobody,
  });
  let stderr = '';
  let exited = false;
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  running.add(child);
  child.on('exit', () => {
    exited = true;
    running.delete(child);
  });
  return {
    exited: () => exited,
    done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr }))),
    kill: (signal) => child.kill(signal),
  };
}

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

/** Waits for `condition`, or for the process to end (then the test's expectations say why). */
async function until(run: Run, condition: () => boolean): Promise<void> {
  while (!condition() && !run.exited()) await new Promise((r) => setTimeout(r, 20));
}

/** A folder of `count` images that take a while to prepare (resized from a large JPEG). */
function images(count = COUNT): string[] {
  mkdirSync(join(tmp, 'in'));
  const names = Array.from({ length: count }, (_, i) => `in/${String(i).padStart(3, '0')}.${i % 2 ? 'png' : 'jpg'}`);
  names.forEach((n, i) => copyFileSync(i % 2 ? DUCK : ROCKET, join(tmp, n)));
  return names;
}

describe('athena-rx classify as a process', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-run: whole lines kept, the missing inputs listed; --resume yields every input exactly once',
    async (signal) => {
      const names = images();
      const out = join(tmp, 'out.jsonl');
      const first = cli([
        'classify',
        'in',
        '--format',
        'jsonl',
        '--output',
        'out.jsonl',
        '--batch-size',
        '1',
        '--in-flight',
        '2',
        '--concurrency',
        '1',
      ]);
      await until(first, () => lines(out).length >= 3);
      first.kill(signal);
      const ended = await first.done;
      expect(ended.code).toBe(1);
      const kept = lines(out).map((l) => JSON.parse(l) as { file: string });
      expect(readFileSync(out, 'utf8').endsWith('\n')).toBe(true);
      expect(kept.length).toBeLessThan(COUNT);
      const missing = lines(`${out}.missing`);
      expect(ended.stderr).toContain(`${COUNT - kept.length} of ${COUNT} images got no result (interrupted):`);
      expect(ended.stderr).toContain(`all ${missing.length} are listed in ${out}.missing; run the same command with --resume`);
      expect([...kept.map((r) => r.file), ...missing].sort()).toEqual(names);

      // Without --resume or --force the results are not replaced.
      const refused = await cli(['classify', 'in', '--format', 'jsonl', '--output', 'out.jsonl']).done;
      expect(refused.code).toBe(2);
      expect(lines(out)).toHaveLength(kept.length);

      const second = await cli(['classify', 'in', '--output', 'out.jsonl', '--resume']).done;
      expect(second.stderr).toContain(`resumed: ${kept.length} inputs already had a final result in out.jsonl`);
      expect(second.code).toBe(0);
      const all = lines(out).map((l) => JSON.parse(l) as { file: string; outcome: string });
      expect(all.map((r) => r.file).sort()).toEqual(names);
      expect(all.every((r) => r.outcome === 'success')).toBe(true);
      expect(existsSync(`${out}.missing`)).toBe(false);
    },
    120_000,
  );

  it('a file replaced by a FIFO after the folder walk: a SOURCE_UNREADABLE line, and the run ends', async () => {
    const names = images(8);
    const out = join(tmp, 'out.jsonl');
    const last = names[names.length - 1]!;
    const run = cli([
      'classify',
      'in',
      '--format',
      'jsonl',
      '--output',
      'out.jsonl',
      '--batch-size',
      '1',
      '--in-flight',
      '1',
      '--concurrency',
      '1',
    ]);
    // The first result means the walk is over; the last file has not been opened yet.
    await until(run, () => lines(out).length >= 1);
    rmSync(join(tmp, last));
    execFileSync('mkfifo', ['-m', '0666', join(tmp, last)]);
    const ended = await run.done;
    const records = lines(out).map((l) => JSON.parse(l) as { file: string; errorCode: string | null; errorMessage: string | null });
    expect(records.map((r) => r.file).sort()).toEqual(names);
    expect(records.find((r) => r.file === last)).toMatchObject({
      errorCode: 'SOURCE_UNREADABLE',
      errorMessage: expect.stringMatching(/is a named pipe \(FIFO\), not an image file$/),
    });
    expect(ended.code).toBe(1);
  }, 60_000);

  it('an unreadable subfolder is one failure line; the rest classify', async () => {
    mkdirSync(join(tmp, 'in/locked'), { recursive: true });
    mkdirSync(join(tmp, 'in/open'));
    copyFileSync(DUCK, join(tmp, 'in/a.png'));
    copyFileSync(DUCK, join(tmp, 'in/open/b.png'));
    copyFileSync(DUCK, join(tmp, 'in/locked/c.png'));
    chmodSync(join(tmp, 'in/locked'), 0o000);
    const run = await cli(['classify', 'in', '--format', 'jsonl', '--output', 'out.jsonl']).done;
    const records = lines(join(tmp, 'out.jsonl')).map(
      (l) => JSON.parse(l) as { file: string; outcome: string; errorCode: string; errorMessage: string },
    );
    expect(records.map((r) => [r.file, r.outcome]).sort()).toEqual([
      ['in/a.png', 'success'],
      ['in/locked', 'failure'],
      ['in/open/b.png', 'success'],
    ]);
    expect(records.find((r) => r.file === 'in/locked')).toMatchObject({
      errorCode: 'SOURCE_UNREADABLE',
      errorMessage: 'cannot read folder: permission denied',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/3 images in .*: 2 succeeded, 1 failed/);

    // A '**' glob used to skip the locked folder without a word (the glob library hides the error).
    const globbed = await cli(['classify', 'in/**/*.png', '--format', 'jsonl', '--output', 'out.jsonl', '--force']).done;
    const again = lines(join(tmp, 'out.jsonl')).map((l) => JSON.parse(l) as { file: string; outcome: string; errorCode: string });
    expect(again.map((r) => [r.file, r.outcome, r.errorCode]).sort()).toEqual([
      ['in/a.png', 'success', null],
      ['in/locked', 'failure', 'SOURCE_UNREADABLE'],
      ['in/open/b.png', 'success', null],
    ]);
    expect(globbed.code).toBe(1);
  }, 60_000);
});
