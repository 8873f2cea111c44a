import { mkdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { from, lastValueFrom, mergeMap, toArray } from 'rxjs';
import sharp from 'sharp';
import { IMAGE_SIDE } from '../../contract/messages';
// Straight from the modules rather than the package root, which would load gRPC as well.
import { preprocess } from '../../operators/preprocess';
import { expandInputs } from '../files';
import { EXIT, UsageError, type CliIo, type Command } from '../io';

const HELP = `usage: athena-rx prepare <files, folders or globs...> --out-dir DIR [--png] [--max-pixels N] [--concurrency N]

Prepares each image exactly as it would be sent (decoded and resized to 448x448, B,G,R) and
writes DIR/<file name>.bgr, the 602112 raw bytes. Inputs are taken as classify takes them:
folders are walked recursively for image files (their subfolders are kept under DIR), quoted
globs expanded here. Exits 1 if any input fails, after writing all the others; each failure is
one line on stderr with the file and the error code. Exits 2, before any work, when an input
names nothing or two inputs would be written to one name.

  --out-dir DIR     directory for the outputs (created if missing)
  --png             also write DIR/<file name>.png, a viewable PNG of the same pixels
  --max-pixels N    refuse images declaring more than N pixels (default 100000000)
  --concurrency N   images prepared at once (default: the number of CPUs + 2)
`;

interface PrepareArgs {
  /** The operands as given: files, folders or globs. */
  readonly inputs: string[];
  readonly outDir: string;
  readonly png: boolean;
  readonly maxPixels?: number;
  readonly concurrency?: number;
}

/** The command line of `athena-rx prepare`, checked; `'help'` for `--help`. */
export function parsePrepareArgs(args: string[], cwd: string): PrepareArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        'out-dir': { type: 'string' },
        png: { type: 'boolean' },
        'max-pixels': { type: 'string' },
        concurrency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('name at least one image, folder or glob to prepare');
  const outDir = values['out-dir'];
  if (!outDir) throw new UsageError('--out-dir DIR is required');
  const positiveInt = (flag: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--${flag} must be a whole number >= 1, got '${raw}'`);
    return Number(raw);
  };
  const maxPixels = positiveInt('max-pixels', values['max-pixels']);
  const concurrency = positiveInt('concurrency', values.concurrency);
  return {
    inputs: positionals,
    outDir: path.resolve(cwd, outDir),
    png: values.png === true,
    ...(maxPixels === undefined ? {} : { maxPixels }),
    ...(concurrency === undefined ? {} : { concurrency }),
  };
}

/** One input: what to read, how to name it on screen, and its output name under DIR (no extension). */
interface Output {
  readonly display: string;
  readonly name: string;
}

/**
 * The files to prepare, found as `classify` finds them, each with its output name: a file named
 * outright or matched by a glob is written under its file name; a folder's files keep their path
 * below the folder. Two inputs with one output name would overwrite each other: refused up front
 * rather than silently losing one.
 */
async function outputNames(operands: readonly string[], cwd: string): Promise<{ source: string; ref: Output }[]> {
  const out: { source: string; ref: Output }[] = [];
  const seenPaths = new Set<string>();
  const seenNames = new Map<string, string>();
  for (const operand of operands) {
    const folder = path.resolve(cwd, operand);
    const isFolder = (await stat(folder).catch(() => undefined))?.isDirectory() === true;
    for (const file of await expandInputs([operand], cwd)) {
      if (seenPaths.has(file.path)) continue;
      seenPaths.add(file.path);
      const name = isFolder ? path.relative(folder, file.path) : path.basename(file.path);
      const other = seenNames.get(name);
      if (other !== undefined)
        throw new UsageError(`${other} and ${file.display} would both be written as ${name}.bgr; prepare them into different --out-dir`);
      seenNames.set(name, file.display);
      out.push({ source: file.path, ref: { display: file.display, name } });
    }
  }
  return out;
}

/** B,G,R to R,G,B (a copy): PNG stores red first, and the file should look like the photo. */
function bgrToRgb(bgr: Buffer): Buffer {
  const rgb = Buffer.allocUnsafe(bgr.length);
  for (let i = 0; i < bgr.length; i += 3) {
    rgb[i] = bgr[i + 2]!;
    rgb[i + 1] = bgr[i + 1]!;
    rgb[i + 2] = bgr[i]!;
  }
  return rgb;
}

/**
 * `athena-rx prepare <images...> --out-dir DIR [--png]`: writes the exact pixels that would be
 * sent for each image, so anyone can look at them. Every input is attempted; the exit code is
 * 1 when any failed.
 */
export const prepare: Command = async (args: string[], io: CliIo) => {
  const parsed = parsePrepareArgs(args, io.cwd);
  if (parsed === 'help') {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  const inputs = await outputNames(parsed.inputs, io.cwd);
  await mkdir(parsed.outDir, { recursive: true });

  let failures = 0;
  const results$ = from(inputs).pipe(
    preprocess<Output>({
      hashes: [], // nobody reads them here
      order: 'source',
      ...(parsed.concurrency === undefined ? {} : { concurrency: parsed.concurrency }),
      ...(parsed.maxPixels === undefined ? {} : { maxPixels: parsed.maxPixels }),
    }),
    mergeMap(async (result) => {
      const { display: file, name } = result.ref!;
      if (result.kind === 'failure') {
        failures++;
        io.stderr.write(`athena-rx prepare: ${file}: ${result.code}: ${result.message}${result.details ? ` (${result.details})` : ''}\n`);
        return;
      }
      const base = path.join(parsed.outDir, name);
      try {
        await mkdir(path.dirname(base), { recursive: true });
        await writeFile(`${base}.bgr`, result.data);
        if (parsed.png) {
          await sharp(bgrToRgb(result.data), { raw: { width: IMAGE_SIDE, height: IMAGE_SIDE, channels: 3 } })
            .png()
            .toFile(`${base}.png`);
        }
      } catch (err) {
        failures++;
        io.stderr.write(`athena-rx prepare: ${file}: WRITE_FAILED: ${(err as Error).message}\n`);
        return;
      }
      const d = result.sizes.decoded;
      io.stdout.write(
        `${file} -> ${base}.bgr${parsed.png ? ' (+ .png)' : ''}  ${result.sourceFormat.replace('IMAGE_FORMAT_', '')} ${d ? `${d.width}x${d.height}` : ''}\n`,
      );
    }, 1),
    toArray(),
  );
  await lastValueFrom(results$);
  return failures === 0 ? EXIT.ok : EXIT.failed;
};
