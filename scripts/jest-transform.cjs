// Jest's transformer for the TypeScript of src/ and test/: esbuild's per-file transpile to
// CommonJS, with an inline-free source map so that stack traces point at the .ts lines.
//
// Why not ts-jest (which the docs still show users, and test/package/jestSetup.spec.ts runs): it
// transpiles with TypeScript's `transpileModule`, about 23 ms a file here, and in a clean clone
// (CI, a newcomer's first run) each of jest's workers transpiles the files it loads itself: jest
// cold took 30 CPU-s more than warm, nearly all of it transpiling (measured on this machine, issue
// 23). esbuild does a file in about a millisecond. Types are not checked here either way: the
// project's tsconfig has `isolatedModules`, ts-jest only transpiled too, and `npm test`'s type
// check (`npm run typecheck`) covers src/ and test/.
'use strict';
const nodeCrypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

// The compiler options esbuild reads (useDefineForClassFields follows `target`, as in tsc).
const tsconfigRaw = fs.readFileSync(path.join(__dirname, '..', 'tsconfig.json'), 'utf8');
const self = fs.readFileSync(__filename, 'utf8');

module.exports = {
  process(source, filename) {
    const { code, map } = esbuild.transformSync(source, {
      loader: filename.endsWith('.tsx') ? 'tsx' : 'ts',
      format: 'cjs',
      target: 'es2022',
      platform: 'node',
      sourcefile: filename,
      sourcemap: 'external',
      sourcesContent: false,
      tsconfigRaw,
    });
    return { code, map };
  },
  // Jest keys its cache by this alone: the coverage flag and jest's config must be in it, or a
  // `--coverage` run would read code cached uninstrumented (and the other way round).
  getCacheKey(source, filename, options) {
    return nodeCrypto
      .createHash('sha256')
      .update(esbuild.version)
      .update(self)
      .update(tsconfigRaw)
      .update(String(options.instrument))
      .update(options.configString)
      .update(filename)
      .update(source)
      .digest('hex');
  },
};
