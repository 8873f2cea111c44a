/**
 * The CLI as a real process (issue 12): signals end a run and leave output that `--resume`
 * completes, each input exactly once across both runs; an unreadable subfolder is one failure
 * line while the rest classify. Runs `bin/athena-rx.js` from a transpiled copy of the package.
 *
 * The CLI runs as the user running the tests, except where a file permission is the point (the
 * unreadable subfolder): root reads any folder, so as root that case runs the CLI as `nobody`,
 * from a self-contained copy of the package that `nobody` can read wherever the clone sits (root's
 * home, a `mktemp -d` folder). When `nobody` cannot run Node or write to the temporary folder,
 * that case is skipped, with the reason printed. A failing case prints the stderr of every CLI
 * run it made.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { binCommand } from '../helpers/binCommand';

const DUCK = join(__dirname, '../../samples/duck-pond.png');
const ROCKET = join(__dirname, '../fixtures/preprocess/images/rocket-original.jpg');
const COUNT = 24;

/** Debian's `nobody`. */
const NOBODY = { uid: 65534, gid: 65534 } as const;
type User = typeof NOBODY | undefined;

/**
 * Whom a file permission stops, for the unreadable-folder case: the user running the tests, or
 * as root `nobody`; or, as root where `nobody` cannot run Node or write to the temporary folder,
 * why the case cannot run here.
 */
function deniedUser(): { user: User } | { skip: string } {
  if (process.getuid?.() !== 0) return { user: undefined };
  const check = `const fs = require('node:fs'); fs.accessSync(${JSON.stringify(tmpdir())}, fs.constants.W_OK | fs.constants.X_OK)`;
  const probe = spawnSync(process.execPath, ['-e', check], { ...NOBODY, encoding: 'utf8', timeout: 60_000 });
  if (probe.error || probe.status !== 0) {
    const why =
      probe.error?.message ??
      probe.stderr
        .trim()
        .split('\n')
        .find((l) => l.startsWith('Error')) ??
      `exit ${probe.status}`;
    return {
      skip: `as root this case runs the CLI as nobody (uid 65534), who cannot run ${process.execPath} or write to ${tmpdir()} here: ${why}`,
    };
  }
  return { user: NOBODY };
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-process-'));
});
/** The CLI runs of the current case: killed if still running when it ends (it failed), never left behind. */
let runs: Run[] = [];
/** Folders a case made unreadable, made readable again when it ends. */
const locked: string[] = [];
afterEach(() => {
  for (const run of runs) {
    if (run.exited()) continue;
    run.kill('SIGKILL');
    // The case timed out waiting for this run: its stderr says how far it got.
    process.stderr.write(`athena-rx ${run.args.join(' ')} was still running when the case ended; its stderr:\n${run.stderr()}\n`);
  }
  runs = [];
  // A folder a case locked (mode 000) stops its owner's rmSync too, unless that owner is root.
  for (const folder of locked.splice(0)) chmodSync(folder, 0o755);
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  readonly args: readonly string[];
  readonly exited: () => boolean;
  readonly stderr: () => string;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the CLI of `pkg` in `tmp`, as `user` (default: the user running the tests). */
function cli(pkg: PackageCopy, args: string[], user?: User): Run {
  // As the bin's #! line starts it (its malloc and V8 settings: test/helpers/binCommand.ts).
  const bin = binCommand(join(pkg.dir, 'bin/athena-rx.js'), args);
  const child: ChildProcess = spawn(bin.command, bin.args, {
    cwd: tmp,
    env: bin.env,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...user,
  });
  let stderr = '';
  let exited = false;
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.on('exit', () => (exited = true));
  const run: Run = {
    args,
    exited: () => exited,
    stderr: () => stderr,
    done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr }))),
    kill: (signal) => child.kill(signal),
  };
  runs.push(run);
  return run;
}

/** The case `body`, whose failure message ends with the stderr of each CLI run it made. */
function showingStderr<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await body(...args);
    } catch (error) {
      const report = runs.map((r) => `\n\n--- stderr of athena-rx ${r.args.join(' ')}:\n${r.stderr()}`).join('');
      if (error instanceof Error) error.message += report;
      throw error;
    }
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
  let pkg: PackageCopy;
  beforeAll(async () => {
    pkg = await transpiledPackage();
  }, 120_000);
  afterAll(() => pkg?.remove());
  const athena = (args: string[]): Run => cli(pkg, args);

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-run: whole lines kept, the missing inputs listed; --resume yields every input exactly once',
    showingStderr(async (signal) => {
      const names = images();
      const out = join(tmp, 'out.jsonl');
      const first = athena([
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
      const refused = await athena(['classify', 'in', '--format', 'jsonl', '--output', 'out.jsonl']).done;
      expect(refused.code).toBe(2);
      expect(lines(out)).toHaveLength(kept.length);

      const second = await athena(['classify', 'in', '--output', 'out.jsonl', '--resume']).done;
      expect(second.stderr).toContain(`resumed: ${kept.length} inputs already had a final result in out.jsonl`);
      expect(second.code).toBe(0);
      const all = lines(out).map((l) => JSON.parse(l) as { file: string; outcome: string });
      expect(all.map((r) => r.file).sort()).toEqual(names);
      expect(all.every((r) => r.outcome === 'success')).toBe(true);
      expect(existsSync(`${out}.missing`)).toBe(false);
    }),
    120_000,
  );

  it(
    'a file replaced by a FIFO after the folder walk: a SOURCE_UNREADABLE line, and the run ends',
    showingStderr(async () => {
      const names = images(8);
      const out = join(tmp, 'out.jsonl');
      const last = names[names.length - 1]!;
      const run = athena([
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
    }),
    120_000,
  );
});

describe('athena-rx classify as a process, where a permission denies a folder', () => {
  const denied = deniedUser();
  if ('skip' in denied) console.warn(`skipped 'an unreadable subfolder': ${denied.skip}`);
  const user = 'user' in denied ? denied.user : undefined;
  let pkg: PackageCopy;
  beforeAll(async () => {
    // Another user runs the CLI: from a copy of the package that needs nothing from the clone.
    pkg = await transpiledPackage({ selfContained: user !== undefined });
  }, 120_000);
  afterAll(() => pkg?.remove());
  const athena = (args: string[]): Run => cli(pkg, args, user);

  ('skip' in denied ? it.skip : it)(
    'an unreadable subfolder is one failure line; the rest classify',
    showingStderr(async () => {
      // Modes set, not left to the umask: the CLI may run as another user, and writes its output here.
      chmodSync(tmp, 0o777);
      for (const folder of ['in', 'in/open', 'in/locked']) {
        mkdirSync(join(tmp, folder));
        chmodSync(join(tmp, folder), 0o755);
      }
      for (const file of ['in/a.png', 'in/open/b.png', 'in/locked/c.png']) {
        copyFileSync(DUCK, join(tmp, file));
        chmodSync(join(tmp, file), 0o644);
      }
      chmodSync(join(tmp, 'in/locked'), 0o000);
      locked.push(join(tmp, 'in/locked'));
      const run = await athena(['classify', 'in', '--format', 'jsonl', '--output', 'out.jsonl']).done;
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
      const globbed = await athena(['classify', 'in/**/*.png', '--format', 'jsonl', '--output', 'out.jsonl', '--force']).done;
      const again = lines(join(tmp, 'out.jsonl')).map((l) => JSON.parse(l) as { file: string; outcome: string; errorCode: string });
      expect(again.map((r) => [r.file, r.outcome, r.errorCode]).sort()).toEqual([
        ['in/a.png', 'success', null],
        ['in/locked', 'failure', 'SOURCE_UNREADABLE'],
        ['in/open/b.png', 'success', null],
      ]);
      expect(globbed.code).toBe(1);
    }),
    120_000,
  );
});
