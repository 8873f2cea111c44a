import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
/** Beside the other caches of the checks (scripts/cache.mjs): ignored by git, gone after `npm ci`. */
const cacheDir = path.join(root, 'node_modules/.cache/athena-rx');
const builds = path.join(cacheDir, 'test-dist');

/** What dist/ is made from (scripts/cache.mjs's hash: the sources, compiler options, build script, compiler). */
async function buildInputsHash(): Promise<string> {
  const cache = pathToFileURL(path.join(root, 'scripts/cache.mjs')).href;
  const script = `import { buildInputsHash } from ${JSON.stringify(cache)}; process.stdout.write(buildInputsHash());`;
  return (await run(process.execPath, ['--input-type=module', '-e', script])).stdout;
}

/** dist/ of this clone when `npm run build` made it from the sources as they are now (it records what from). */
function currentDist(hash: string): string | undefined {
  const record = path.join(cacheDir, 'dist-inputs.txt');
  const dist = path.join(root, 'dist');
  const recorded = fs.existsSync(record) ? fs.readFileSync(record, 'utf8').trim() : '';
  return recorded === hash && fs.existsSync(path.join(dist, 'cjs/index.js')) ? dist : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `dist` could be copied whole into `work`: a `npm run build` meanwhile removes the record first. */
function copied(hash: string, dist: string, work: string): boolean {
  try {
    fs.cpSync(dist, work, { recursive: true });
  } catch {
    return false; // dist/ was being rebuilt
  }
  return currentDist(hash) === dist;
}

/** Makes `target` (absent until complete: it appears by a rename) from dist/ when current, else by the build script. */
async function make(hash: string, target: string): Promise<void> {
  const work = fs.mkdtempSync(`${target}.work-`);
  try {
    const dist = currentDist(hash);
    if (!dist || !copied(hash, dist, work)) await run(process.execPath, [path.join(root, 'scripts/build.mjs'), work], { cwd: root });
    fs.renameSync(work, target);
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    // Two workers that both found a stale lock orphaned may both build: the second rename fails
    // (ENOTEMPTY), and the first one's build serves.
    if (fs.existsSync(target)) return;
    throw err;
  }
}

/** Takes the lock (a folder: made or not, atomically); false when another process holds it. */
function locked(lock: string): boolean {
  try {
    fs.mkdirSync(lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Whether the build under `lock` was left by a process that is gone (its pid), never got to write
 * its pid (a minute), or is older than any build takes (5 minutes: its pid may since belong to
 * another process).
 */
function orphaned(lock: string): boolean {
  let age: number;
  try {
    age = Date.now() - fs.statSync(lock).mtimeMs;
  } catch {
    return false; // released meanwhile
  }
  if (age > 300_000) return true;
  try {
    const owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    if (owner) return !isRunning(owner);
  } catch {
    // no pid yet: judged by the lock's age
  }
  return age > 60_000;
}

/**
 * Removes what older sources built, and locks a killed run left (after an hour: a run that started
 * before an edit may still copy it).
 */
function prune(keep: string): void {
  for (const entry of fs.readdirSync(builds)) {
    const full = path.join(builds, entry);
    const age = Date.now() - (fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (full !== keep && age > 3_600_000) fs.rmSync(full, { recursive: true, force: true });
  }
}

/**
 * The package's `dist/` (`cjs/` with declarations, the `esm/` facade) exactly as
 * `scripts/build.mjs` builds it from the current sources, built once per content of those
 * sources and shared by every suite that needs the built package (issue 23: each used to build or
 * transpile its own). It lives in node_modules/.cache/athena-rx/test-dist/: a copy of this clone's
 * dist/ when that was built from the current sources (as after `npm ci`), else a build made there.
 * Read it, copy it; never write into it.
 *
 * Jest's workers may ask at once: one builds, under a lock folder holding its pid, the others wait.
 */
export async function builtDist(): Promise<string> {
  const hash = await buildInputsHash();
  fs.mkdirSync(builds, { recursive: true });
  const target = path.join(builds, hash.replace(/[^\w.-]/g, '_'));
  const lock = `${target}.lock`;
  // real-time wait: at most 5 minutes for another process's build (about 10 s on an idle machine).
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (fs.existsSync(target)) return target;
    if (!locked(lock)) {
      if (orphaned(lock)) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`waited 5 minutes for the build under ${lock}`);
      // real-time wait: polls for the other build's result every 200 ms, within the deadline above.
      else await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    try {
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (!fs.existsSync(target)) await make(hash, target);
      prune(target);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}
