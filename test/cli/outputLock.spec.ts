/**
 * Output that two runs cannot corrupt (issue 22): `--output FILE` is locked (`FILE.lock`), a
 * second run is refused naming the holder, a dead holder's lock is taken over; the file is
 * truncated or replaced only after the preflight (metrics port, address, credentials), and no
 * temporary file outlives a run.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { parsePreviousOutput } from '../../src/cli/resume';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo } from './fakeIo';

const DUCK = join(__dirname, '../../samples/duck-pond.png');
/** Bytes an earlier run left: what must survive every refused run. */
const EARLIER = ['a.png', 'b.png', 'c.png'].map((f) => JSON.stringify({ file: f, outcome: 'success', labels: {} }) + '\n').join('');

let tmp: string;
let server: AthenaTestServer;
beforeAll(async () => {
  server = await startAthenaServer();
});
afterAll(() => server.stop());
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-lock-'));
  for (const f of ['a.png', 'b.png', 'c.png', 'd.png']) copyFileSync(DUCK, join(tmp, f));
  writeFileSync(join(tmp, 'out.jsonl'), EARLIER);
});
afterEach(() => {
  server.faults.clear();
  rmSync(tmp, { recursive: true, force: true });
});

const INPUTS = ['a.png', 'b.png', 'c.png', 'd.png'];
const remote = (): string[] => ['--address', server.address, '--insecure'];
/** Files beside the output other than the inputs and the output itself (locks, temporaries). */
const leftovers = (): string[] => readdirSync(tmp).filter((n) => !INPUTS.includes(n) && n !== 'out.jsonl');

/** Resolves once `path` exists (a signal from the run under test, not a sleep). */
async function appears(path: string): Promise<void> {
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 5));
}

/** A PID that no process has: a child's, after it has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('the output lock', () => {
  it('a second run on the same --output exits 2 naming the holder; the first run writes every image once', async () => {
    server.faults.latency(600_000); // holds the first run's answers until the second has been refused
    const first = fakeIo({ cwd: tmp });
    const running = main(['classify', ...INPUTS, '--output', 'out.jsonl', '--format', 'jsonl', '--force', ...remote()], first);
    await appears(join(tmp, 'out.jsonl.lock'));
    expect(readFileSync(join(tmp, 'out.jsonl.lock'), 'utf8')).toBe(`${process.pid}\n`);

    const second = fakeIo({ cwd: tmp });
    expect(await main(['classify', ...INPUTS, '--output', 'out.jsonl', '--force', ...remote()], second)).toBe(2);
    expect(second.err()).toBe(
      `athena-rx classify: --output 'out.jsonl' is in use by another run (PID ${process.pid}, lock file out.jsonl.lock): ` +
        `wait for it to end or give another --output; if no athena-rx runs as PID ${process.pid}, remove out.jsonl.lock\n`,
    );
    const resumed = fakeIo({ cwd: tmp });
    expect(await main(['classify', ...INPUTS, '--output', 'out.jsonl', '--resume', ...remote()], resumed)).toBe(2);
    expect(resumed.err()).toMatch(/is in use by another run/);

    server.faults.latency(0);
    expect(await running).toBe(0);
    const records = parsePreviousOutput(readFileSync(join(tmp, 'out.jsonl'), 'utf8'), 'out.jsonl');
    expect(records.unreadable).toBe(0);
    expect(records.records.map((r) => r.file).sort()).toEqual(INPUTS);
    expect(leftovers()).toEqual([]); // the lock went with the run
  });

  it('a lock left by a dead process is taken over, with a message', async () => {
    const pid = deadPid();
    writeFileSync(join(tmp, 'out.jsonl.lock'), `${pid}\n`);
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'd.png', '--output', 'out.jsonl', '--resume', ...remote()], io)).toBe(0);
    expect(io.err()).toContain(`athena-rx classify: took over the lock out.jsonl.lock of PID ${pid}, which is no longer running\n`);
    expect(leftovers()).toEqual([]);
  });

  it('a refused run (bad flags, no input) leaves neither lock nor output changed', async () => {
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'missing.png', '--output', 'out.jsonl', '--force'], io)).toBe(2);
    expect(io.err()).toMatch(/no such file or folder: 'missing\.png'/);
    expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).toBe(EARLIER);
    expect(leftovers()).toEqual([]);
  });
});

describe('nothing is touched before the preflight', () => {
  let taken: Server;
  let takenPort: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    takenPort = (taken.address() as { port: number }).port;
  });
  afterAll(() => new Promise((r) => taken.close(r)));

  it('--force with nothing listening at the address: exit 3, the file as it was', async () => {
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', ...INPUTS, '--output', 'out.jsonl', '--force', '--address', '127.0.0.1:1', '--insecure'], io)).toBe(3);
    expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).toBe(EARLIER);
    expect(leftovers()).toEqual([]);
  });

  it.each([['--force'], ['--resume']])('%s with the metrics port taken: exit 2, the file as it was, no temporary left', async (flag) => {
    const io = fakeIo({ cwd: tmp });
    const args = ['classify', ...INPUTS, '--output', 'out.jsonl', flag, '--metrics-port', String(takenPort), '--metrics-host', '127.0.0.1'];
    expect(await main([...args, ...remote()], io)).toBe(2);
    expect(io.err()).toMatch(/--metrics-port \d+: cannot listen/);
    expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).toBe(EARLIER);
    expect(leftovers()).toEqual([]);
  });

  it('--resume refused by the server (bad token): exit 3, the file as it was, no temporary left', async () => {
    const guarded = await startAthenaServer({ tokens: { good: '*' } });
    try {
      const io = fakeIo({ cwd: tmp, env: { ATHENA_TOKEN: 'wrong' } });
      expect(await main(['classify', ...INPUTS, '--output', 'out.jsonl', '--resume', '--address', guarded.address, '--insecure'], io)).toBe(
        3,
      );
      expect(readFileSync(join(tmp, 'out.jsonl'), 'utf8')).toBe(EARLIER);
      expect(leftovers()).toEqual([]);
    } finally {
      await guarded.stop();
    }
  });

  it("a killed resume's temporary file (FILE.<pid>.resume.tmp) is removed by the next run", async () => {
    const stale = `out.jsonl.${deadPid()}.resume.tmp`;
    writeFileSync(join(tmp, stale), EARLIER.slice(0, 20));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', ...INPUTS, '--output', 'out.jsonl', '--resume', ...remote()], io)).toBe(0);
    expect(io.err()).toContain(`athena-rx classify: removed ${stale}, left by an earlier run that was killed\n`);
    expect(leftovers()).toEqual([]);
    expect(
      parsePreviousOutput(readFileSync(join(tmp, 'out.jsonl'), 'utf8'), 'out.jsonl')
        .records.map((r) => r.file)
        .sort(),
    ).toEqual(INPUTS);
  });
});
