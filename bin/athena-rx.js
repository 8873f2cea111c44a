#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456:${GLIBC_TUNABLES} node --initial-old-space-size=64
'use strict';
// The line above starts node with glibc's malloc in one arena on transparent huge pages (other
// C libraries ignore it; your own GLIBC_TUNABLES come last and win). Decoded photos are large and
// short-lived: with the default per-thread arenas every image got fresh pages, and a page fault
// costs about 12 us on a VM, a third of preparing a photo (docs/performance.md, "Memory").
// mmap_threshold=32M, trim_threshold=256M: decoded images up to 32 MB come from the heap, and
// freed ones stay there for the next, instead of fresh pages the kernel must zero (7% of the CPU
// in a profile, 3% with these; about 0.96x prepareImage's CPU, docs/performance.md).
// --initial-old-space-size=64: V8 otherwise starts a full mark-compact after most of the young
// collections that the decoded photos (young ArrayBuffer memory) make due, with 10 MB of live
// heap: 39-43 per 120 photos, against 7 with this (docs/performance.md, "Where prepareImage still
// loses").
// The command line runs on the built package; `npm ci` builds it (the `prepare` script). It is one
// file, dist/cli/athena-rx.js, made from dist/cjs/cli/main.js: a one-image run takes 0.80x the
// CPU of loading its some 480 modules one by one (scripts/build.mjs, docs/performance.md).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'cli', 'athena-rx.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('athena-rx: the package is not built (no dist/): run `npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
// libvips' operation cache keeps recent decodes (up to 50 MB) for inputs that never repeat here
// (every image is a new buffer): off, new decodes reuse that memory. 0.91x the decode CPU on the
// photo corpus (docs/performance.md). The library leaves it alone: it is the application's sharp.
require('sharp').cache(false);
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
      exitOnceFlushed();
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
      exitOnceFlushed();
    },
  );

// Once main has settled, the command's work is done (serve and worker settle when they stop), so
// the process ends when its output is out, without waiting for a dependency's timer that still
// holds the event loop: after a worker read 10 MB replies, ioredis's parser shrank its buffer pool
// on a 50 ms timer for another 2.3 s after the summary. The exit timer is unref'd: when nothing
// else holds the loop, the process ends on its own first, as it always did.
function exitOnceFlushed() {
  let pending = 2;
  const flushed = () => {
    if (--pending === 0) setTimeout(() => process.exit(), 0).unref();
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}
