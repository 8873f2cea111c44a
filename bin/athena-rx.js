#!/usr/bin/env node
'use strict';
// The command line runs on the built package; `npm ci` builds it (the `prepare` script).
require('../dist/cjs/cli/main.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`athena-rx: ${err && err.message ? err.message : err}\n`); process.exitCode = 2; },
);
