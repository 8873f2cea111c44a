// The command line's own settings, read from bin/athena-rx.js's `#!` line so that they are written
// once: `#!/usr/bin/env -S GLIBC_TUNABLES=<tunables>:${GLIBC_TUNABLES} node <flags>`. Used by
// scripts/jest-process.mjs (the tests' malloc settings) and bench/cli-start.mjs (the bin's start).
// (test/helpers/binCommand.ts reads the same line for the tests' child processes.)
import { readFileSync } from 'node:fs';

/** The bin's malloc tunables (without the user's own, which come after them) and its node flags. */
export function binSettings() {
  const first = readFileSync(new URL('../bin/athena-rx.js', import.meta.url), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S GLIBC_TUNABLES=(\S+?):\$\{GLIBC_TUNABLES\} node(.*)$/.exec(first);
  if (!m)
    throw new Error(
      `scripts/bin-settings.mjs: bin/athena-rx.js's first line is not '#!/usr/bin/env -S GLIBC_TUNABLES=...:\${GLIBC_TUNABLES} node ...': ${first}`,
    );
  return { tunables: m[1], nodeArgs: m[2].trim().split(/\s+/).filter(Boolean) };
}
