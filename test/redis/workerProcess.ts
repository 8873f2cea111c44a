import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { binCommand } from '../helpers/binCommand';

/** Tiny 448x448 PNGs (nothing to resize, little to decode), so that hundreds of jobs stay cheap. */
export async function makeImages(dir: string, n: number): Promise<void> {
  const distinct = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      sharp({ create: { width: 448, height: 448, channels: 3, background: { r: i * 30, g: 255 - i * 30, b: 90 } } })
        .png()
        .toBuffer(),
    ),
  );
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `img${String(i).padStart(4, '0')}.png`), distinct[i % distinct.length]);
}

/** An `athena-rx worker` process of a package copy, started as its bin's `#!` line does, with its stderr kept. */
export class WorkerProcess {
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  private exitedAt: number | undefined;

  constructor(packageDir: string, args: readonly string[]) {
    const { command, args: argv, env } = binCommand(path.join(packageDir, 'bin/athena-rx.js'), ['worker', ...args]);
    this.child = spawn(command, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.exitedAt = performance.now();
        resolve(code);
      }),
    );
  }

  /** Sends `signal` and resolves with the exit code and the real time it took to exit (ms). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
    const at = performance.now();
    this.child.kill(signal);
    const code = await this.exited;
    return { code, ms: (this.exitedAt ?? performance.now()) - at };
  }

  /** The peak resident memory so far (`VmHWM`), bytes; Linux only. */
  peakRss(): number {
    const status = fs.readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }
}

/** Polls `test` every 100 ms until it holds; fails after `ms` with `what` and `context()`. */
export async function until(what: string, test: () => boolean | Promise<boolean>, ms = 60_000, context = (): string => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
