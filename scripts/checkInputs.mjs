// The hash of everything a check of `npm run check` can read, for scripts/check.mjs's record of
// passes: a check that passed on inputs with this hash passes again, so it is not run again. Each
// check has its own hash: check.mjs says which parts of the tree each one cannot read (the layer
// check reads no test), and everything else goes in.
//
// Content only, never modification times (a fresh clone, a `git checkout`, an editor's save
// without change all keep the hash when the bytes are the same); the newest change time is
// returned beside it only so that check.mjs can refuse to record a pass when a file was touched
// while the check ran. Into it go:
// - every file of the tree (names and bytes), of the check's part of it, except node_modules/, dist/, .git/ and the
//   folders of run outputs (coverage/, tmp/): sources, tests, docs, configs, the lockfile, and
//   any file not yet added to git, since a lint or type check of a folder reads those too;
// - the declarations in dist/ (the examples and docs compile against the package's types);
// - node_modules/.package-lock.json, npm's record of what it installed (the tools, their
//   plugins and every @types package are there, at their versions and integrity hashes);
// - node's version.
// An unneeded file in the hash can only make a check run when it need not; a missing one could
// let a check pass that would fail, so the rule is: everything but what is known to be output.
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Top-level folders that hold only installed packages, build output or run output. */
const SKIPPED = new Set(['node_modules', 'dist', '.git', 'coverage', 'tmp']);

/**
 * The hash of the inputs of each check in `scopes` (name: which files, by path from the root, it
 * can read; node's version and what npm installed count for all), and the newest change time
 * (ctime, ms) among the files hashed: a file changed and changed back while a check ran hashes
 * the same, but its ctime says it was touched. A file that cannot be read (one that vanished
 * meanwhile, as an editor's swap file does) makes the hashes that include it ones that match
 * nothing, so that nothing is skipped or recorded on it.
 */
export function inputsState(root, scopes) {
  const names = Object.keys(scopes);
  const hashes = Object.fromEntries(names.map((name) => [name, createHash('sha256')]));
  let newest = 0;
  const add = (label, bytes) => {
    for (const name of names) {
      if (label === 'node' || label === 'installed' || scopes[name](label))
        hashes[name].update(`${label}\0${bytes.length}\0`).update(bytes);
    }
  };
  const addFile = (label, full) => {
    if (!names.some((name) => scopes[name](label))) return;
    try {
      newest = Math.max(newest, statSync(full).ctimeMs);
      add(label, readFileSync(full));
    } catch {
      add(label, Buffer.from(`unreadable ${randomUUID()}`));
    }
  };
  add('node', Buffer.from(process.version));
  add('installed', readOr(join(root, 'node_modules/.package-lock.json')));
  walk(root, '', addFile, (name, depth) => depth === 0 && SKIPPED.has(name));
  walk(
    join(root, 'dist'),
    'dist/',
    (rel, full) => rel.endsWith('.d.ts') && addFile(rel, full),
    () => false,
  );
  return { hashes: Object.fromEntries(names.map((name) => [name, hashes[name].digest('hex')])), newest };
}

/** The bytes of `path`, or none when it cannot be read. */
export function readOr(path) {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Calls `file(rel, full)` for every file under `dir`, in a fixed order, skipping the folders
 * `skip` names. Links are followed (a linked folder once, so that a loop ends), and their names
 * say where they point.
 */
function walk(dir, prefix, file, skip, depth = 0, seen = new Set([realOr(dir)])) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = join(dir, e.name);
    let rel = prefix + e.name;
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      rel += ` -> ${readlinkSync(full)}`;
      isDir = statSync(full, { throwIfNoEntry: false })?.isDirectory() === true;
      if (!isDir) {
        file(rel, full);
        continue;
      }
    }
    if (isDir) {
      const real = realOr(full);
      if (skip(e.name, depth) || seen.has(real)) continue;
      seen.add(real);
      walk(full, `${rel}/`, file, skip, depth + 1, seen);
    } else if (e.isFile()) {
      file(rel, full);
    }
  }
}

function realOr(path) {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
