import { readdir, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { UsageError } from './io';

/** File extensions (lower case, no dot) taken as images when walking folders or expanding globs. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg', 'jpeg', 'png', 'gif', 'bmp', 'dib', 'webp', 'tif', 'tiff',
  'pbm', 'pgm', 'ppm', 'pxm', 'pnm', 'pfm', 'sr', 'ras', 'hdr', 'pic',
]);

/** Whether a file name has one of the {@link IMAGE_EXTENSIONS}, in any letter case. */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).slice(1).toLowerCase());
}

/** One image file to send: `path` to open, `display` as the user should see it. */
export interface InputFile {
  /** Absolute path. */
  readonly path: string;
  /** Relative to the working directory when inside it (forward slashes), else absolute. */
  readonly display: string;
}

function display(cwd: string, absolute: string): string {
  const rel = relative(cwd, absolute);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return absolute;
  return rel.split(sep).join('/');
}

/**
 * Walks a folder depth-first in name order, so runs are reproducible. Hidden entries (a leading
 * dot) are skipped: they are version-control or editor files, not a user's images.
 */
async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await walk(full, out);
    else if (entry.isFile() && isImageFile(entry.name)) out.push(full);
    else if (entry.isSymbolicLink()) {
      // Follow links to files only: following linked folders could loop.
      const s = await stat(full).catch(() => undefined);
      if (s?.isFile() && isImageFile(entry.name)) out.push(full);
    }
  }
}

/**
 * Turns command-line operands into the image files to classify, in the order given, each once.
 *
 * - A file named outright is always taken, whatever its extension (the user asked for it; if it
 *   is no image, its result says so).
 * - A folder is walked recursively for files with an image extension.
 * - A glob (`'photos/**\/*.jpg'`, quoted so the shell leaves it) is expanded relative to `cwd`;
 *   of its matches, image files are taken and folders walked. A shell that already expanded a
 *   glob passes plain paths, which the first rule covers.
 *
 * @throws UsageError when an operand names nothing, or when no image file is found at all.
 */
export async function expandInputs(operands: readonly string[], cwd: string): Promise<InputFile[]> {
  if (operands.length === 0) throw new UsageError('give at least one image file, folder or glob');
  const seen = new Set<string>();
  const files: InputFile[] = [];
  const add = (absolute: string): void => {
    if (seen.has(absolute)) return;
    seen.add(absolute);
    files.push({ path: absolute, display: display(cwd, absolute) });
  };
  for (const operand of operands) {
    const absolute = resolve(cwd, operand);
    const s = await stat(absolute).catch(() => undefined);
    if (s?.isFile()) {
      add(absolute);
    } else if (s?.isDirectory()) {
      const found: string[] = [];
      await walk(absolute, found);
      if (found.length === 0) throw new UsageError(`no image files in folder '${operand}' (looked for ${[...IMAGE_EXTENSIONS].join(', ')})`);
      found.forEach(add);
    } else if (isDynamicPattern(operand)) {
      const matches = await glob(operand, { cwd, absolute: true, onlyFiles: false, caseSensitiveMatch: true, expandDirectories: false });
      matches.sort();
      const found: string[] = [];
      for (const match of matches) {
        const m = await stat(match).catch(() => undefined);
        if (m?.isDirectory()) await walk(match, found);
        else if (m?.isFile() && isImageFile(match)) found.push(match);
      }
      if (found.length === 0) throw new UsageError(`the pattern '${operand}' matches no image files`);
      found.forEach(add);
    } else {
      throw new UsageError(`no such file or folder: '${operand}'`);
    }
  }
  return files;
}
