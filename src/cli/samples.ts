import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';

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
 * Names the bundled samples `samples/<name>` in the output, as in the docs, instead of their
 * absolute path under node_modules when the working directory is elsewhere.
 */
export function withSampleNames<T extends { readonly path: string; readonly display: string }>(
  files: readonly T[],
  dir: string = samplesDir(),
): T[] {
  const prefix = dir + sep;
  return files.map((f) =>
    f.path.startsWith(prefix) && isAbsolute(f.display)
      ? { ...f, display: 'samples/' + f.path.slice(prefix.length).split(sep).join('/') }
      : f,
  );
}
