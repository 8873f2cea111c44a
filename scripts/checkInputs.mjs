// The hash of everything `npm run check` can read, for scripts/check.mjs's record of passes: a
// check that passed on inputs with this hash passes again, so it is not run again.
//
// Content only, never modification times (a fresh clone, a `git checkout`, an editor's save
// without change all keep the hash when the bytes are the same). Into it go:
// - every file of the tree (names and bytes) except node_modules/, dist/, .git/ and the
//   folders of run outputs (coverage/, tmp/): sources, tests, docs, configs, the lockfile, and
//   any file not yet added to git, since a lint or type check of a folder reads those too;
// - the declarations in dist/ (the examples and docs compile against the package's types);
// - node_modules/.package-lock.json, npm's record of what it installed (the tools, their
//   plugins and every @types package are there, at their versions and integrity hashes);
// - node's version.
// An unneeded file in the hash can only make a check run when it need not; a missing one could
// let a check pass that would fail, so the rule is: everything but what is known to be output.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Top-level folders that hold only installed packages, build output or run output. */
const SKIPPED = new Set(['node_modules', 'dist', '.git', 'coverage', 'tmp']);

export function inputsHash(root) {
  const hash = createHash('sha256');
  const add = (label, bytes) => {
    hash.update(`${label}\0${bytes.length}\0`);
    hash.update(bytes);
  };
  add('node', Buffer.from(process.version));
  const installed = join(root, 'node_modules/.package-lock.json');
  add('installed', readOr(installed));
  walk(
    root,
    '',
    (rel, full, read = true) => add(rel, read ? readFileSync(full) : Buffer.alloc(0)),
    (name, depth) => depth === 0 && SKIPPED.has(name),
  );
  walk(
    join(root, 'dist'),
    'dist/',
    (rel, full, read = true) => rel.endsWith('.d.ts') && add(rel, read ? readFileSync(full) : Buffer.alloc(0)),
    () => false,
  );
  return hash.digest('hex');
}

function readOr(path) {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Calls `file(rel, full, read)` for every regular file and link under `dir`, in a fixed order,
 * skipping the folders `skip` names; `read` is false for a link to anything but a file.
 */
function walk(dir, prefix, file, skip, depth = 0) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = join(dir, e.name);
    const rel = prefix + e.name;
    if (e.isDirectory()) {
      if (!skip(e.name, depth)) walk(full, `${rel}/`, file, skip, depth + 1);
    } else if (e.isFile()) {
      file(rel, full);
    } else if (e.isSymbolicLink()) {
      // A link is hashed as where it points, and a linked file by its content too (a linked
      // folder is not walked: it could loop).
      file(`${rel} -> ${readlinkSync(full)}`, full, statSync(full, { throwIfNoEntry: false })?.isFile() === true);
    }
  }
}
