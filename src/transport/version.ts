import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/**
 * The version of the installed `athena-rx` package, read from its `package.json` at run time (found
 * upward from this file, whether it runs from `src/` or `dist/`), so that `x-client-version` never
 * drifts from what was published. `'0.0.0-unknown'` if no such file is found.
 */
export function clientVersion(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        // dist/esm has its own {"type":"module"} package.json: keep climbing until ours.
        if (pkg.name === 'athena-rx' && typeof pkg.version === 'string') return (cached = pkg.version);
      } catch {
        // An unreadable package.json on the way up is not ours; keep looking.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (cached = '0.0.0-unknown');
    dir = parent;
  }
}

/** The `x-client-language` the library sends. */
export const CLIENT_LANGUAGE = 'typescript';
