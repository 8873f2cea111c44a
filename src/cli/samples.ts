import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

/**
 * The folder of sample images shipped with the package (`samples/`), found from this module's
 * location, so that `athena-rx classify --samples` works from any working directory: in a clone,
 * from `src/` under a test runner, or installed under `node_modules/athena-rx/`.
 */
export function samplesDir(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    // dist/cjs/package.json only sets the module type; the package's own has its name.
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'athena-rx')
      return join(dir, 'samples');
    if (dirname(dir) === dir) throw new Error(`the athena-rx package root was not found above ${from}`);
  }
}

/**
 * Names the bundled samples `samples/<name>` in the output, as in the docs, instead of their path
 * under node_modules (`node_modules/athena-rx/samples/...` from a project, or an absolute path).
 */
export function withSampleNames<T extends { readonly path: string; readonly display: string }>(
  files: readonly T[],
  dir: string = samplesDir(),
): T[] {
  const prefix = dir + sep;
  return files.map((f) =>
    f.path.startsWith(prefix) ? { ...f, display: 'samples/' + f.path.slice(prefix.length).split(sep).join('/') } : f,
  );
}

/** Whether a skipped file is one the package ships beside its samples (`samples/LICENSE.md`). */
export function isSampleFile(path: string, dir: string = samplesDir()): boolean {
  return path.startsWith(dir + sep);
}
