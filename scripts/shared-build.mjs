// The package's dist/ (cjs/ with declarations, the esm/ facade, the command line's bundle) exactly
// as scripts/build.mjs builds it from the current sources, made once per content of those sources
// and shared by everything that needs the built package: the test suites that run it (a consumer's
// require and import, the examples, the CLI as a process: test/helpers/builtDist.ts) and the API
// report's check when dist/ is not current (scripts/api-report.mjs). Each used to build or
// transpile its own (issue 23); after an edit to src/, `npm test` built twice, once in jest and
// once for the API report's declarations.
//
// It lives in node_modules/.cache/athena-rx/test-dist/<hash>: a copy of this clone's dist/ when
// that was built from the current sources (as after `npm ci`), else a build made there. Read it,
// copy it; never write into it. Processes may ask at once (jest's workers, the checks beside
// them): one builds, under a lock folder holding its pid, the others wait.
//
//   node scripts/shared-build.mjs    prints the folder, building it first if needed
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildInputsHash, cacheDir, root } from './cache.mjs';

const run = promisify(execFile);
const builds = join(cacheDir, 'test-dist');

/** dist/ of this clone when `npm run build` made it from the sources as they are now (it records what from). */
function currentDist(hash) {
  const record = join(cacheDir, 'dist-inputs.txt');
  const dist = join(root, 'dist');
  const recorded = fs.existsSync(record) ? fs.readFileSync(record, 'utf8').trim() : '';
  return recorded === hash && fs.existsSync(join(dist, 'cjs/index.js')) ? dist : undefined;
}

function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Whether `dist` could be copied whole into `work`: a `npm run build` meanwhile removes the record first. */
function copied(hash, dist, work) {
  try {
    fs.cpSync(dist, work, { recursive: true });
  } catch {
    return false; // dist/ was being rebuilt
  }
  return currentDist(hash) === dist;
}

/** Makes `target` (absent until complete: it appears by a rename) from dist/ when current, else by the build script. */
async function make(hash, target) {
  const work = fs.mkdtempSync(`${target}.work-`);
  try {
    const dist = currentDist(hash);
    if (!dist || !copied(hash, dist, work)) await run(process.execPath, [join(root, 'scripts/build.mjs'), work], { cwd: root });
    fs.renameSync(work, target);
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    // Two processes that both found a stale lock orphaned may both build: the second rename fails
    // (ENOTEMPTY), and the first one's build serves.
    if (fs.existsSync(target)) return;
    throw err;
  }
}

/** Takes the lock (a folder: made or not, atomically); false when another process holds it. */
function locked(lock) {
  try {
    fs.mkdirSync(lock);
    return true;
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Whether the build under `lock` was left by a process that is gone (its pid), never got to write
 * its pid (a minute), or is older than any build takes (5 minutes: its pid may since belong to
 * another process).
 */
function orphaned(lock) {
  let age;
  try {
    age = Date.now() - fs.statSync(lock).mtimeMs;
  } catch {
    return false; // released meanwhile
  }
  if (age > 300_000) return true;
  try {
    const owner = Number(fs.readFileSync(join(lock, 'pid'), 'utf8'));
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
function prune(keep) {
  for (const entry of fs.readdirSync(builds)) {
    const full = join(builds, entry);
    const age = Date.now() - (fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (full !== keep && age > 3_600_000) fs.rmSync(full, { recursive: true, force: true });
  }
}

/** The folder of the shared build for the sources as they are now (`hash`: buildInputsHash, when already computed). */
export async function sharedBuild(hash = buildInputsHash()) {
  fs.mkdirSync(builds, { recursive: true });
  const target = join(builds, hash.replace(/[^\w.-]/g, '_'));
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
      fs.writeFileSync(join(lock, 'pid'), String(process.pid));
      if (!fs.existsSync(target)) await make(hash, target);
      prune(target);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

/**
 * The built package for the sources as they are now: this clone's dist/ when `npm run build` made
 * it from them, else the shared build (made first if needed).
 */
export async function currentBuild(hash = buildInputsHash()) {
  return currentDist(hash) ?? (await sharedBuild(hash));
}

// Run as a program (by test/helpers/builtDist.ts) rather than imported: compared as real paths, since
// the script may be named through a link (a clone under a linked folder) and import.meta.url is real.
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) process.stdout.write(await sharedBuild());
