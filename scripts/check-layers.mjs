// `npm run check:layers`: dependency-cruiser with .dependency-cruiser.cjs over src/ (the import
// layers of issue 10), run only when something its verdict depends on changed since its last
// pass: the names of the files under src/ and what each one imports, the configuration, the
// compiler options it resolves with, the package's manifest and what npm installed. An edit inside
// a function body changes none of these, and the 3-4 CPU-s of starting dependency-cruiser are
// saved (issue 23). What a file imports is read by TypeScript's own scanner (`preProcessFile`:
// every import, `export … from`, `import()`, `require()` and `import x = require()`), not by a
// pattern of ours.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { cachePath, contentHash, filesUnder, root } from './cache.mjs';

/** The configuration, and npm's record of what it installed (the packages dependency-cruiser resolves). */
const CONFIG = [
  '.dependency-cruiser.cjs',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'scripts/check-layers.mjs',
  'node_modules/.package-lock.json',
];

function inputsHash() {
  const config = CONFIG.filter((f) => existsSync(join(root, f)));
  const hash = createHash('sha256').update(`${process.version}\0${contentHash(config)}\0`);
  for (const file of filesUnder('src')) {
    const info = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const names = [...info.importedFiles, ...info.referencedFiles, ...info.typeReferenceDirectives, ...info.libReferenceDirectives];
    hash.update(`${file}\0${names.map((n) => n.fileName).join('\0')}\0\0`);
  }
  return hash.digest('hex');
}

const passed = cachePath('check-layers-passed.txt');
const inputs = inputsHash();
if (existsSync(passed) && readFileSync(passed, 'utf8') === inputs) {
  console.log('the import layers hold (no file of src/ imports anything new since the last pass)');
  process.exit(0);
}
rmSync(passed, { force: true });
const cruiser = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const args = ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err-long'];
const cache = ['--cache', 'node_modules/.cache/athena-rx/dependency-cruiser', '--cache-strategy', 'content'];
const result = spawnSync(process.execPath, [cruiser, ...args, ...cache], { cwd: root, stdio: 'inherit' });
if (result.status === 0) writeFileSync(passed, inputs);
process.exit(result.status ?? 1);
