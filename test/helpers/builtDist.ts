import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * The package's `dist/` (`cjs/` with declarations, the `esm/` facade) exactly as
 * `scripts/build.mjs` builds it from the current sources, built once per content of those
 * sources and shared by every suite that needs the built package, and by the API report's check
 * (issue 23: each used to build or transpile its own). `scripts/shared-build.mjs` says where it
 * is, in node_modules/.cache/athena-rx/test-dist/, making it first if needed: a copy of this
 * clone's dist/ when that is current (as after `npm ci`), else a build. Jest's workers and the
 * checks may ask at once: one builds, under a lock, the others wait. Read it, copy it; never
 * write into it.
 */
export async function builtDist(): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(root, 'scripts/shared-build.mjs')], { cwd: root, maxBuffer: 1 << 20 });
  if (!stdout) throw new Error('scripts/shared-build.mjs named no folder');
  return stdout;
}
