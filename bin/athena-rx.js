#!/usr/bin/env node
'use strict';
// The command line runs on the built package; `npm ci` builds it (the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'cjs', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('athena-rx: the package is not built (no dist/): run `npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // One line: a message that spans lines (a stack, a wrapped cause) is joined.
      const message = String(err && err.message ? err.message : err);
      process.stderr.write(
        `athena-rx: ${message
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' | ')}\n`,
      );
      process.exitCode = 2;
    },
  );
