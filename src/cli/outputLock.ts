import { linkSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { messageOf } from './errors';
import { UsageError } from './io';

/** An output file held by this run; {@link OutputLock.release} lets the next run have it. */
export interface OutputLock {
  /** Removes the lock file (idempotent). Called on every way out of the run. */
  release(): void;
}

/** The lock file beside an output file. */
export const lockPath = (outputPath: string): string => `${outputPath}.lock`;

/**
 * Takes `FILE.lock` for the output file `path` (`name` as the user gave it, for messages), so that
 * two runs never write the same output: the second one gets a {@link UsageError} naming the PID
 * that holds it. The lock holds the PID of its run; one whose process is gone (a run killed with
 * SIGKILL) is taken over, and `notice` says so. Temporary files a killed run left beside the
 * output (`FILE.<pid>.resume.tmp`) are removed once the lock is held: no live run can own them.
 *
 * The lock is written whole to a file of its own and then hard-linked into place, which fails if
 * `FILE.lock` exists: no reader ever sees a half-written PID. Outputs that are not regular files
 * (`/dev/stdout`, a FIFO) are not locked: nothing there can be torn by a second writer.
 */
export function lockOutput(path: string, name: string, notice: (line: string) => void): OutputLock {
  const existing = statSync(path, { throwIfNoEntry: false });
  if (existing !== undefined && !existing.isFile()) return { release: () => undefined };
  const lock = lockPath(path);
  const mine = `${process.pid}\n`;
  const staging = `${lock}.${process.pid}.tmp`;
  try {
    writeFileSync(staging, mine, { flag: 'w' });
  } catch (err) {
    throw new UsageError(`--output: cannot write '${name}' (${messageOf(err)})`);
  }
  try {
    // Three tries: a stale lock taken over by another run at the same moment is met again.
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(staging, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 2) {
          throw new UsageError(`--output: cannot lock '${name}' (${messageOf(err)})`);
        }
      }
      const holder = readHolder(lock);
      if (holder === undefined) continue; // removed meanwhile
      if (isRunning(holder.pid)) {
        throw new UsageError(
          `--output '${name}' is in use by another run (PID ${holder.pid}, lock file ${name}.lock): wait for it to end or give another --output; if no athena-rx runs as PID ${holder.pid}, remove ${name}.lock`,
        );
      }
      if (takeOver(lock, holder.text)) {
        notice(`took over the lock ${name}.lock of PID ${holder.pid ?? '?'}, which is no longer running`);
      }
    }
  } finally {
    rmSync(staging, { force: true });
  }
  removeStaleTemporaries(path, notice);
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      // Only our own lock: one removed by hand and taken by another run stays.
      if (readHolder(lock)?.text === mine) rmSync(lock, { force: true });
    },
  };
}

/** The PID in a lock file (undefined PID for a file that holds none), or undefined when it is gone. */
function readHolder(lock: string): { pid: number | undefined; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8');
  } catch {
    return undefined;
  }
  const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
  return { pid, text };
}

/** Whether a process with this PID exists (EPERM: it exists, owned by someone else). */
function isRunning(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Moves a stale lock aside and removes it, unless what was moved is not the stale lock that was
 * read (another run took it over and locked in between): that one is put back.
 */
function takeOver(lock: string, staleText: string): boolean {
  const aside = `${lock}.${process.pid}.stale`;
  try {
    renameSync(lock, aside);
  } catch {
    return false; // another run moved it first
  }
  const moved = readHolder(aside);
  if (moved?.text !== staleText) {
    try {
      linkSync(aside, lock);
    } catch {
      // A third run locked meanwhile: it holds the output; ours will be refused on the next try.
    }
  }
  rmSync(aside, { force: true });
  return moved?.text === staleText;
}

/** Removes the temporary files (`FILE.<pid>.resume.tmp`) of runs killed before they could. */
function removeStaleTemporaries(path: string, notice: (line: string) => void): void {
  const folder = dirname(path);
  const prefix = basename(path) + '.';
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  for (const entry of names) {
    if (!entry.startsWith(prefix) || !/^\d+\.resume\.tmp$/.test(entry.slice(prefix.length))) continue;
    rmSync(join(folder, entry), { force: true });
    notice(`removed ${entry}, left by an earlier run that was killed`);
  }
}
