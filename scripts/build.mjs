// Builds dist/cjs (CommonJS + declarations, compiled by tsc) and dist/esm, a thin ES module facade
// over the same CommonJS code, so that `import` and `require` share one instance of every class
// (no dual-package hazard: `instanceof AthenaTransportError` holds whichever way it was loaded).
//
// The build emits without checking types (--noCheck): `npm run typecheck` (part of `npm test`)
// checks them, once, for src/ together with the tests, bench and examples; checking src/ here
// again cost the same time a second time (issue 23).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
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
await bundleCli(dist);
// What dist/ was built from, for the API report, which then reads dist/'s declarations instead
// of emitting them again (scripts/api-report.mjs).
if (record) writeFileSync(record, inputs + '\n');
console.log('built dist/cjs and dist/esm');

/**
 * dist/cli/athena-rx.js: the command line as one file (bin/athena-rx.js runs it), made by esbuild
 * from dist/cjs/cli/main.js with rxjs, grpc-js and protobufjs inside. Resolving, reading and
 * compiling some 480 modules one by one cost a one-image `classify` 535 CPU-ms against 430 from
 * the bundle (docs/performance.md, "Starting the command line"). The
 * library keeps its modules; only the command line, which nothing imports, is bundled.
 *
 * Left outside, loaded from node_modules: sharp (a native addon), ioredis (an optional peer) and
 * OpenTelemetry (loaded only when metrics are asked for). A bundled module that names `__dirname`
 * gets its own folder back, not the bundle's: our modules find proto/, resize.wasm and the decode
 * worker beside their dist/cjs files, and grpc-js its protos in its installed package.
 */
async function bundleCli(dist) {
  const out = join(dist, 'cli', 'athena-rx.js');
  const ownFolder = {
    name: 'own-dirname',
    setup(build) {
      build.onLoad({ filter: /\.c?js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!/\b__dirname\b/.test(text)) return undefined;
        const folder = dirname(args.path);
        // Ours: inside the dist/ being built (which may itself sit under a node_modules/, as the
        // tests' builds do). A dependency's: its package is the last node_modules/ segment.
        const own = !relative(dist, folder).startsWith('..');
        const installed = own ? null : /^(.*[\\/]node_modules[\\/])((?:@[^\\/]+[\\/])?[^\\/]+)(.*)$/.exec(folder);
        if (!own && !installed)
          throw new Error(`scripts/build.mjs: ${args.path} names __dirname and is neither in ${dist} nor in node_modules`);
        // In the package, by a path from the bundle; in a dependency, from wherever npm installed it.
        const expr = installed
          ? `require('node:path').join(require('node:path').dirname(require('node:module').createRequire(__filename).resolve(${JSON.stringify(installed[2].split(sep).join('/') + '/package.json')})), ${JSON.stringify('.' + installed[3].split(sep).join('/'))})`
          : `require('node:path').join(__dirname, ${JSON.stringify(relative(dirname(out), folder).split(sep).join('/'))})`;
        return { contents: text.replace(/\b__dirname\b/g, `(${expr})`), loader: 'js' };
      });
    },
  };
  await require('esbuild').build({
    entryPoints: [join(dist, 'cjs', 'cli', 'main.js')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['sharp', 'ioredis', '@opentelemetry/*'],
    plugins: [ownFolder],
    logLevel: 'warning',
  });
}
