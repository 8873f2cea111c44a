// Builds dist/cjs (CommonJS + declarations, compiled by tsc) and dist/esm, a thin ES module facade
// over the same CommonJS code, so that `import` and `require` share one instance of every class
// (no dual-package hazard: `instanceof AthenaTransportError` holds whichever way it was loaded).
//
// The build emits without checking types (--noCheck): `npm run typecheck` (part of `npm test`)
// checks them, once, for src/ together with the tests, bench and examples; checking src/ here
// again cost the same time a second time (issue 23).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { buildInputsHash, cachePath, root } from './cache.mjs';

// `node scripts/build.mjs [DIR]` builds into DIR (default: dist/ of the package); the package test
// builds into a temporary copy so that it never races other tests that read dist/.
const dist = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
const inputs = buildInputsHash();
const record = dist === join(root, 'dist') ? cachePath('dist-inputs.txt') : undefined;
if (record) rmSync(record, { force: true }); // written again once this build has succeeded
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--noCheck', '--outDir', join(dist, 'cjs')],
  {
    stdio: 'inherit',
  },
);
writeFileSync(join(dist, 'cjs/package.json'), '{ "type": "commonjs" }\n');
// The resize kernels (assembled from resize.wat by scripts/build-wasm.mjs), loaded from __dirname.
copyFileSync(join(root, 'src/preprocess/resize.wasm'), join(dist, 'cjs/preprocess/resize.wasm'));

const require = createRequire(import.meta.url);
const entries = { index: 'index', 'testing/index': 'testing/index', 'redis/index': 'redis/index' };
mkdirSync(join(dist, 'esm/testing'), { recursive: true });
mkdirSync(join(dist, 'esm/redis'), { recursive: true });
writeFileSync(join(dist, 'esm/package.json'), '{ "type": "module" }\n');
for (const [esm, cjs] of Object.entries(entries)) {
  const mod = require(join(dist, 'cjs', cjs + '.js'));
  const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule');
  const rel = '../'.repeat(esm.split('/').length) + 'cjs/' + cjs + '.js';
  const body = [`import cjs from '${rel}';`, ...names.map((n) => `export const ${n} = cjs.${n};`), 'export default cjs;', ''].join('\n');
  writeFileSync(join(dist, 'esm', esm + '.js'), body);
  writeFileSync(join(dist, 'esm', esm + '.d.ts'), `export * from '${rel}';\n`);
}
// What dist/ was built from, for the API report, which then reads dist/'s declarations instead
// of emitting them again (scripts/api-report.mjs).
if (record) writeFileSync(record, inputs + '\n');
console.log('built dist/cjs and dist/esm');
