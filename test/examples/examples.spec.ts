import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { transpiledPackage, type PackageCopy } from './transpiledPackage';

/**
 * The examples of examples/ run for real, as a user runs them (`node examples/<name>.mjs`), in a
 * copy of the package built from the current sources, against the embedded server (no
 * ATHENA_ADDRESS). Each is told to process a few items and exit, and its output is checked.
 */
const root = path.resolve(__dirname, '../..');

interface Summary {
  ref: unknown;
  kind: 'success' | 'failure';
  correlationId: string;
  attempts: number;
  classifications?: Record<string, number>;
  code?: string;
}

/** A running example: its stdout lines as they come, its stderr, and its exit. */
class Example {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(pkg: PackageCopy, file: string, args: string[]) {
    // Without ATHENA_* the examples start the embedded server; a developer's own settings must not leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ATHENA_')));
    this.child = spawn(process.execPath, [path.join('examples', file), ...args], { cwd: pkg.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.wake();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `test` holds for the output so far (within 60 s: 10 s was too short on a loaded machine). */
  async until(test: () => boolean, what: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async exitCode(ms = 60_000): Promise<number | null> {
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
    const code = await Promise.race([this.exited, timer]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`the example did not exit; stderr:\n${this.stderr}`);
    }
    return code;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  results(): Summary[] {
    return this.lines.filter((l) => l.startsWith('{"ref"')).map((l) => JSON.parse(l) as Summary);
  }
}

describe('examples/', () => {
  jest.setTimeout(120_000); // the bounds above are 60 s, for a loaded machine
  let pkg: PackageCopy;
  const running: Example[] = [];
  const start = (file: string, args: string[]): Example => {
    const example = new Example(pkg, file, args);
    running.push(example);
    return example;
  };

  // The package's build may happen here, when dist/ is not current: about 10 s on the idle machine.
  beforeAll(async () => {
    pkg = await transpiledPackage();
  }, 120_000);
  afterEach(() => {
    for (const e of running.splice(0)) e.kill('SIGKILL');
  });
  afterAll(() => pkg?.remove());

  it('work-queue: every job of every producer gets one result, and the queue never passes its capacity', async () => {
    const example = start('work-queue.mjs', ['--producers', '3', '--jobs', '6', '--capacity', '3', '--window', '4']);
    expect(await example.exitCode()).toBe(0);
    const results = example.results();
    const refs = results.map((r) => r.ref as string).sort();
    const expected = [0, 1, 2].flatMap((p) => [0, 1, 2, 3, 4, 5].map((j) => `producer${p}/job${j}/`));
    expect(refs.map((r) => r.replace(/[^/]+$/, '')).sort()).toEqual(expected.sort());
    for (const r of results) {
      if (String(r.ref).endsWith('not-an-image.jpg')) expect(r).toMatchObject({ kind: 'failure', code: 'UNSUPPORTED_FORMAT', attempts: 0 });
      else expect(r).toMatchObject({ kind: 'success', attempts: 1 });
    }
    const summary = JSON.parse(example.lines[example.lines.length - 1]).summary;
    expect(summary).toMatchObject({ results: 18, capacity: 3, window: 4 });
    expect(summary.queueHighWater).toBeGreaterThan(0);
    expect(summary.queueHighWater).toBeLessThanOrEqual(3);
    expect(example.stderr).toContain('using the embedded test server');
  });

  it('watch-folder: classifies the images already there and those that arrive, then exits after --max', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-watched-'));
    try {
      fs.copyFileSync(path.join(root, 'samples/seashore.jpg'), path.join(dir, 'before.jpg'));
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image name: never taken');
      const example = start('watch-folder.mjs', [dir, '--max', '3', '--settle', '100']);
      await example.until(() => example.results().length === 1, 'the file already there');
      // As a well-behaved writer does: write under another name, then rename into place.
      const drop = (sample: string, name: string): void => {
        fs.copyFileSync(path.join(root, 'samples', sample), path.join(dir, `.${name}.part`));
        fs.renameSync(path.join(dir, `.${name}.part`), path.join(dir, name));
      };
      drop('storm.jpg', 'arrived.jpg');
      drop('../test/fixtures/not-an-image.jpg', 'broken.jpg');
      expect(await example.exitCode()).toBe(0);
      const byRef = Object.fromEntries(example.results().map((r) => [r.ref, r]));
      expect(Object.keys(byRef).sort()).toEqual(['arrived.jpg', 'before.jpg', 'broken.jpg']);
      expect(byRef['before.jpg']).toMatchObject({ kind: 'success' });
      expect(byRef['arrived.jpg']).toMatchObject({ kind: 'success' });
      expect(byRef['broken.jpg']).toMatchObject({ kind: 'failure', code: 'UNSUPPORTED_FORMAT' });
      expect(byRef['before.jpg'].classifications).toHaveProperty('UnknownCSAM-PCSAM');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('http-upload: answers each POSTed image with its typed result, and stops cleanly on SIGTERM', async () => {
    const example = start('http-upload.mjs', ['--port', '0']);
    await example.until(() => example.lines.length > 0, 'the listening line');
    const url = /^listening on (http:\/\/\S+)$/.exec(example.lines[0])?.[1];
    expect(url).toBeDefined();
    const post = async (sample: string): Promise<{ status: number; body: Summary }> => {
      const response = await fetch(`${url}/classify`, { method: 'POST', body: fs.readFileSync(path.join(root, 'samples', sample)) });
      return { status: response.status, body: (await response.json()) as Summary };
    };

    const ok = await Promise.all(['seashore.jpg', 'duck-pond.png', 'forest-edge.webp', 'goose-field.tiff'].map(post));
    for (const { status, body } of ok) {
      expect(status).toBe(200);
      expect(body).toMatchObject({ kind: 'success', attempts: 1 });
      expect(Object.keys(body.classifications ?? {})).toContain('UnknownCSAM-PCSAM');
    }
    expect(new Set(ok.map((r) => r.body.correlationId)).size).toBe(4);

    const bad = await post('../test/fixtures/not-an-image.jpg');
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ kind: 'failure', code: 'UNSUPPORTED_FORMAT' });

    expect((await fetch(`${url}/classify`)).status).toBe(405);
    expect((await fetch(`${url}/elsewhere`, { method: 'POST', body: 'x' })).status).toBe(404);

    example.kill('SIGTERM');
    expect(await example.exitCode()).toBe(0);
  });
});
