// Where the checks keep what lets a second run skip work (issue 23): node_modules/.cache/athena-rx/,
// outside the source tree, ignored by git, and gone after `npm ci`, so that CI's clean run always
// does everything. Every cached result is keyed by the content of its inputs, never by mtime: a
// `git checkout` that rewrites files with the same content costs nothing, and an edit is never missed.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = join(root, 'node_modules', '.cache', 'athena-rx');

/** The cache folder, made if missing; `name` inside it. */
export function cachePath(name) {
  mkdirSync(cacheDir, { recursive: true });
  return join(cacheDir, name);
}

/** Every file under `dir` (relative to the package root), sorted. */
export function filesUnder(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(relative(root, full));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/** SHA-256 of the content of `files` (paths relative to `base`, the package root by default), names included. */
export function contentHash(files, base = root) {
  const hash = createHash('sha256');
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(base, file)))
      .update('\0');
  return hash.digest('hex');
}

/**
 * What dist/ is made from: the sources, the compiler options, the build script, package.json, the
 * lockfile and the compiler's version. Equal hashes mean equal declarations, so the API report may
 * read dist/'s.
 */
export function buildInputsHash() {
  const typescript = JSON.parse(readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
  // package.json (its `type` and exports steer the emit) and the lockfile (declarations name the
  // dependencies' types) are inputs too.
  const inputs = [...filesUnder('src'), 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'package.json', 'package-lock.json'];
  return `${typescript}:${contentHash(inputs)}`;
}

/**
 * SHA-256 of the declarations (.d.ts) under `folder` (a build's cjs/), named by their paths inside
 * it, so that dist/cjs and the shared build's cjs/ of the same sources hash the same: what a user
 * of the package can see of it. An edit inside a function body changes the sources, not this.
 */
export function declarationsHash(folder) {
  const files = readdirSync(folder, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.d.ts'))
    .sort();
  return contentHash(files, folder);
}
