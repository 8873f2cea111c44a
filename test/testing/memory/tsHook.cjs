// Lets a child `node` process load the project's TypeScript sources directly (no dist/ build):
// each .ts file is transpiled on require, types stripped, by esbuild as jest's transformer does
// for the test itself (scripts/jest-transform.cjs; TypeScript's transpileModule took about 23 ms a
// file, which each child paid again for every source it loaded).
const fs = require('node:fs');
const esbuild = require('esbuild');

require.extensions['.ts'] = (module, filename) => {
  const { code } = esbuild.transformSync(fs.readFileSync(filename, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'es2022',
    platform: 'node',
    sourcefile: filename,
  });
  module._compile(code, filename);
};
