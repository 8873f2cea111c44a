// `node scripts/lint.mjs`: the lint of `npm test` (`npm run check`), the same rules and files as
// `npm run lint` (`eslint .`), but incremental and still sound with type-aware rules (issue 23).
//
// ESLint's own --cache re-lints only the files that changed, and so misses a finding that a
// change in one file causes in another (a function that now returns a Promise makes its callers'
// un-awaited calls floating promises): typescript-eslint advises against it. Here a file is
// linted again when it, or anything it imports, directly or not, changed since the last clean
// lint; and every file is when the configuration, the compiler options, the dependencies or the
// declarations in dist/ (which the examples import as `athena-rx`) changed. Content hashes, kept
// in node_modules/.cache/athena-rx/ (scripts/cache.mjs): a clean clone lints everything.
//
//   node scripts/lint.mjs          lint what needs it, remember the result when there is no error
//   node scripts/lint.mjs --all    lint everything (and remember)
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ESLint } from 'eslint';
import { cachePath, contentHash, filesUnder, root } from './cache.mjs';

const LINTED = /\.(ts|js|mjs|cjs)$/;
/** A change to any of these may change any file's findings. */
const GLOBAL = ['eslint.config.mjs', 'tsconfig.json', 'tsconfig.eslint.json', 'package-lock.json', 'scripts/lint.mjs'];

/** The files `eslint .` lints: every .ts/.js/.mjs/.cjs that the config does not ignore. */
async function lintedFiles(eslint) {
  const all = [];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== '.git') walk(path);
      else if (entry.isFile() && LINTED.test(entry.name)) all.push(path);
    }
  };
  walk('');
  const ignored = await Promise.all(all.map((f) => eslint.isPathIgnored(join(root, f))));
  return all.filter((_, i) => !ignored[i]).sort();
}

/** The relative imports of `file` that are linted files: `from '…'`, `import('…')`, `require('…')`, `import '…'`. */
function importsOf(file, known) {
  const text = readFileSync(join(root, file), 'utf8');
  const found = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"\n]+)\1/g)) {
    const base = relative(root, resolve(root, dirname(file), m[2]));
    const stem = base.replace(/\.(js|mjs|cjs)$/, '');
    const candidates = [
      base,
      `${stem}.ts`,
      `${base}.ts`,
      `${base}.js`,
      `${base}.mjs`,
      `${base}.cjs`,
      `${base}/index.ts`,
      `${base}/index.js`,
    ];
    const hit = candidates.find((c) => known.has(c));
    if (hit) found.push(hit);
  }
  return found;
}

/** `changed` and every file that imports one of them, directly or through others. */
function withImporters(changed, files) {
  const known = new Set(files);
  const importers = new Map();
  for (const file of files) {
    for (const imported of importsOf(file, known)) {
      if (!importers.has(imported)) importers.set(imported, []);
      importers.get(imported).push(file);
    }
  }
  const out = new Set(changed);
  const queue = [...changed];
  while (queue.length > 0) {
    for (const importer of importers.get(queue.pop()) ?? []) {
      if (!out.has(importer)) {
        out.add(importer);
        queue.push(importer);
      }
    }
  }
  return [...out].sort();
}

const eslint = new ESLint({ cwd: root, warnIgnored: false });
const files = await lintedFiles(eslint);
const hashes = Object.fromEntries(files.map((f) => [f, contentHash([f])]));
const declarations = existsSync(join(root, 'dist')) ? filesUnder('dist').filter((f) => f.endsWith('.d.ts')) : [];
const key = contentHash([...GLOBAL.filter((f) => existsSync(join(root, f))), ...declarations]);

const statePath = cachePath('lint-state.json');
let state = { key: '', files: {} };
if (!process.argv.includes('--all') && existsSync(statePath)) {
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch {
    // an unreadable state is no state: everything is linted
  }
}
const removed = Object.keys(state.files).some((f) => !(f in hashes));
const everything = state.key !== key || removed;
const changed = everything ? files : files.filter((f) => state.files[f] !== hashes[f]);
const toLint = everything ? files : withImporters(changed, files);

if (toLint.length === 0) {
  console.log(`lint: ${files.length} files, none changed since the last clean lint`);
} else {
  const results = await eslint.lintFiles(toLint.map((f) => join(root, f)));
  const formatter = await eslint.loadFormatter('stylish');
  const report = await formatter.format(results);
  if (report) console.log(report);
  const errors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
  const why = everything ? '' : ` (${changed.length} changed, and their importers)`;
  console.log(`lint: ${toLint.length} of ${files.length} files linted${why}`);
  if (errors > 0) process.exit(1);
}
writeFileSync(statePath, JSON.stringify({ key, files: hashes }));
