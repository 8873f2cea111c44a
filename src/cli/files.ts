import type { Dirent, Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { UsageError } from './io';
import { messageOf } from './errors';

/** File extensions (lower case, no dot) taken as images when walking folders or expanding globs. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg',
  'jpeg',
  'png',
  'gif',
  'bmp',
  'dib',
  'webp',
  'tif',
  'tiff',
  'pbm',
  'pgm',
  'ppm',
  'pxm',
  'pnm',
  'pfm',
  'sr',
  'ras',
  'hdr',
  'pic',
]);

/** Whether a file name has one of the {@link IMAGE_EXTENSIONS}, in any letter case. */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).slice(1).toLowerCase());
}

/** One image file to send: `path` to open, `display` as the user should see it. */
export interface InputFile {
  /**
   * Absolute path. For a name that is not valid UTF-8 this is a lossy rendering that cannot be
   * opened: open {@link rawPath} instead.
   */
  readonly path: string;
  /**
   * Relative to the working directory when inside it (forward slashes), else absolute. Bytes
   * that are not valid UTF-8 are shown as `\xNN`.
   */
  readonly display: string;
  /** The path's bytes, set only when they are not valid UTF-8 (Linux file names are bytes). */
  readonly rawPath?: Buffer;
}

/** A folder (or operand) that could not be read: one failure line in the output, not an abort. */
export interface InputProblem {
  readonly display: string;
  readonly code: 'SOURCE_UNREADABLE';
  readonly message: string;
}

/** A file found in a folder or by a glob and left out because its name is not an image's. */
export interface SkippedFile {
  readonly display: string;
  /** The extension in lower case with its dot (`.heic`), or `''`; `(not a regular file)` for FIFOs and the like. */
  readonly kind: string;
}

/** What {@link findInputs} found. */
export interface FoundInputs {
  /** The image files, in the order given, each once (by real path). */
  readonly files: InputFile[];
  /** Folders that could not be read. */
  readonly problems: InputProblem[];
  /** Files in the folders walked that are not images by name (hidden files are not counted). */
  readonly skipped: SkippedFile[];
}

/**
 * `\xNN` for every byte that is not part of a valid UTF-8 sequence; the rest as text. Names on
 * Linux are bytes; a name from another system's encoding (Latin-1, Shift JIS) is still shown,
 * and distinctly.
 */
export function escapeInvalidUtf8(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : (c & 0xf0) === 0xe0 ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n > 0 && i + n <= bytes.length) {
      const seq = bytes.subarray(i, i + n);
      const text = seq.toString('utf8');
      if (!text.includes('\uFFFD') && Buffer.from(text, 'utf8').equals(seq)) {
        out += text;
        i += n;
        continue;
      }
    }
    out += `\\x${c.toString(16).padStart(2, '0')}`;
    i++;
  }
  return out;
}

function display(cwd: string, absolute: string): string {
  const rel = relative(cwd, absolute);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return absolute;
  return rel.split(sep).join('/');
}

const SEP = Buffer.from(sep);
const joinBytes = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SEP, name]);

/** A path as bytes: the only form that names every file on Linux. */
type RawPath = Buffer;

class Collector {
  readonly files: InputFile[] = [];
  readonly problems: InputProblem[] = [];
  readonly skipped: SkippedFile[] = [];
  /** Real paths (as latin1 strings of their bytes) already taken. */
  private readonly seen = new Set<string>();
  /** Image files and unreadable folders met, duplicates included: whether an operand found anything. */
  met = 0;

  constructor(private readonly cwd: string) {}

  show(raw: RawPath): string {
    return display(this.cwd, escapeInvalidUtf8(raw));
  }

  /** Takes `raw` unless a file with the same real path was taken already (links, loops, overlaps). */
  add(raw: RawPath, real: RawPath): void {
    this.met++;
    const key = real.toString('latin1');
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const text = raw.toString('utf8');
    const valid = Buffer.from(text, 'utf8').equals(raw);
    this.files.push(valid ? { path: text, display: display(this.cwd, text) } : { path: text, display: this.show(raw), rawPath: raw });
  }

  problem(raw: RawPath, err: unknown, what: string): void {
    this.met++;
    const display = this.show(raw);
    if (this.problems.some((p) => p.display === display)) return; // a folder walked and globbed
    this.problems.push({ display, code: 'SOURCE_UNREADABLE', message: `cannot read ${what}: ${reason(err)}` });
  }

  skip(raw: RawPath, name: Buffer, regular: boolean): void {
    this.skipped.push({ display: this.show(raw), kind: regular ? extname(name.toString('latin1')).toLowerCase() : '(not a regular file)' });
  }
}

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') return 'it no longer exists';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  return messageOf(err);
}

const realBytes = (p: RawPath): Promise<RawPath> => realpath(p, { encoding: 'buffer' });

/**
 * Walks a folder depth-first in name order (by bytes), so runs are reproducible. Hidden entries
 * (a leading dot) are skipped: they are version-control or editor files, not a user's images.
 * A folder that cannot be read becomes one {@link InputProblem}; the walk goes on around it.
 * `real` is the folder's real path, so that files are deduplicated without a call per file.
 */
async function walk(dir: RawPath, real: RawPath, out: Collector): Promise<void> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    out.problem(dir, err, 'folder');
    return;
  }
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  for (const entry of entries) {
    const name = entry.name;
    if (name[0] === 0x2e /* . */) continue;
    const full = joinBytes(dir, name);
    const isImage = isImageFile(name.toString('latin1'));
    if (entry.isDirectory()) await walk(full, joinBytes(real, name), out);
    else if (entry.isFile()) {
      if (isImage) out.add(full, joinBytes(real, name));
      else out.skip(full, name, true);
    } else if (entry.isSymbolicLink()) {
      // Follow links to files only: following linked folders could loop.
      const s = await stat(full).catch(() => undefined);
      if (s?.isFile()) {
        if (!isImage) out.skip(full, name, true);
        else {
          const target = await realBytes(full).catch(() => undefined);
          if (target) out.add(full, target);
        }
      }
    } else {
      out.skip(full, name, false);
    }
  }
}

/** What a path that is neither a file nor a folder is, for messages. */
function kindOf(s: Stats): string {
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'neither a file nor a folder';
}

/**
 * The bytes of a path that a glob returned with U+FFFD in place of bytes that are not UTF-8 (the
 * glob library reads names as text): each such component is matched again among its parent's
 * entries read as bytes. Undefined when no entry matches.
 */
async function recoverRawPath(lossy: string): Promise<RawPath | undefined> {
  if (!lossy.includes('\uFFFD')) return Buffer.from(lossy, 'utf8');
  const parent = dirname(lossy);
  if (parent === lossy) return undefined;
  const rawParent = await recoverRawPath(parent);
  if (!rawParent) return undefined;
  const name = basename(lossy);
  if (!name.includes('\uFFFD')) return joinBytes(rawParent, Buffer.from(name, 'utf8'));
  const entries = await readdir(rawParent, { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  const match = entries.find((e) => e.toString('utf8') === name);
  return match ? joinBytes(rawParent, match) : undefined;
}

/** The folder a glob starts from: its leading segments without glob characters. */
function globBase(pattern: string, cwd: string): string {
  const segments = pattern.split('/');
  const fixed: string[] = [];
  for (const segment of segments.slice(0, -1)) {
    if (isDynamicPattern(segment)) break;
    fixed.push(segment);
  }
  return resolve(cwd, fixed.join('/') || '.');
}

/**
 * Records the folders under `dir` that cannot be read, as {@link walk} would: folders only,
 * hidden ones skipped (as the glob skips them), links not followed.
 */
async function findUnreadableFolders(dir: RawPath, out: Collector): Promise<void> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') out.problem(dir, err, 'folder');
    return;
  }
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  for (const entry of entries) {
    if (entry.isDirectory() && entry.name[0] !== 0x2e) await findUnreadableFolders(joinBytes(dir, entry.name), out);
  }
}

/**
 * Turns command-line operands into the image files to classify, in the order given, each once
 * (by real path: a file reached twice through links, a symlink loop or overlapping operands is
 * classified once).
 *
 * - A file named outright is always taken, whatever its extension (the user asked for it; if it
 *   is no image, its result says so).
 * - A folder is walked recursively for files with an image extension; the others are reported
 *   in {@link FoundInputs.skipped}, and a subfolder that cannot be read in
 *   {@link FoundInputs.problems}.
 * - A glob (`'photos/**\/*.jpg'`, quoted so the shell leaves it) is expanded relative to `cwd`;
 *   of its matches, image files are taken and folders walked. A shell that already expanded a
 *   glob passes plain paths, which the first rule covers.
 *
 * @throws UsageError when an operand names nothing, a FIFO, socket or device, or when no image
 *   file is found at all.
 */
export async function findInputs(operands: readonly string[], cwd: string): Promise<FoundInputs> {
  if (operands.length === 0) throw new UsageError('give at least one image file, folder or glob');
  const out = new Collector(cwd);
  for (const operand of operands) {
    const absolute = resolve(cwd, operand);
    const raw = Buffer.from(absolute, 'utf8');
    let s: Stats | undefined;
    let statError: unknown;
    try {
      s = await stat(absolute);
    } catch (err) {
      statError = err;
    }
    if (s?.isFile()) {
      out.add(raw, await realBytes(raw));
    } else if (s?.isDirectory()) {
      const before = out.met;
      await walk(raw, await realBytes(raw), out);
      if (out.met === before) {
        throw new UsageError(`no image files in folder '${operand}' (looked for ${[...IMAGE_EXTENSIONS].join(', ')})`);
      }
    } else if (s) {
      throw new UsageError(`'${operand}' is ${kindOf(s)}, not an image file or folder`);
    } else if (isDynamicPattern(operand)) {
      const matches = await glob(operand, { cwd, absolute: true, onlyFiles: false, caseSensitiveMatch: true, expandDirectories: false });
      matches.sort();
      const before = out.met;
      for (const match of matches) {
        const rawMatch = await recoverRawPath(resolve(match));
        if (!rawMatch) continue;
        const m = await stat(rawMatch).catch(() => undefined);
        const name = Buffer.from(basename(match), 'utf8');
        if (m?.isDirectory()) await walk(rawMatch, await realBytes(rawMatch), out);
        else if (m?.isFile() && isImageFile(match)) out.add(rawMatch, await realBytes(rawMatch));
        else if (m) out.skip(rawMatch, name, m.isFile());
      }
      // The glob library skips folders it cannot read without a word; a '**' pattern enters every
      // folder under its base, so those are found here and reported like a walk's.
      if (operand.split('/').includes('**')) await findUnreadableFolders(Buffer.from(globBase(operand, cwd), 'utf8'), out);
      if (out.met === before) throw new UsageError(`the pattern '${operand}' matches no image files`);
    } else {
      const code = (statError as NodeJS.ErrnoException | undefined)?.code;
      if (code && code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`cannot read '${operand}': ${reason(statError)}`);
      throw new UsageError(`no such file or folder: '${operand}'`);
    }
  }
  return out;
}

/**
 * {@link findInputs} for commands that need every input readable: a folder that cannot be read
 * is a {@link UsageError} naming it.
 */
export async function expandInputs(operands: readonly string[], cwd: string): Promise<InputFile[]> {
  const found = await findInputs(operands, cwd);
  const [first] = found.problems;
  if (first) throw new UsageError(`${first.display}: ${first.message}`);
  return found.files;
}
