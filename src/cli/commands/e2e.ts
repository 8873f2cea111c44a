import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { boolFlag, numberFlag, parseCommandArgs, stringFlag, withHelp } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, resolveConnection } from '../connect';
import { describeCallError } from '../errors';
import { expandInputs, type InputFile } from '../files';
import { EXIT, UsageError, type CliIo, type Command } from '../io';
import { collectResults } from '../pipeline';
import { preflight } from '../preflight';
import { PIPELINE_HELP, PIPELINE_OPTIONS, resolvePipeline, type PipelineSettings } from '../pipelineOptions';
import { renderSummary } from '../summary';
import { terminalSafe } from '../terminal';
import { compareImage, EXPECTED_FILE, readExpected, recordExpected, renderMismatch, type Mismatch } from '../testCase';
import type { ConnectionConfig } from '../connect';

export const DEFAULT_TOLERANCE = 1e-4;

const HELP = `usage: athena-rx e2e <dir> [options]
       athena-rx e2e <dir> --record [--from FOLDER] [--force] [options]

Runs a shared test case: <dir>/${EXPECTED_FILE} lists labels and, per image in <dir>/images/,
the expected weight of each label. Every image is classified and every label whose weight
differs from the expected one by more than the tolerance is reported (a label the service
did not return counts as 0.0). Exit status 0 when all pass, 1 on any difference or failed image,
3 when the service cannot be used at all (checked before any image is read).

options:
  --tolerance T           largest accepted difference (default 1e-4: an exact model match;
                          1e-2 tolerates model drift, 0.05 behavioural checks)
  --record                write <dir>/${EXPECTED_FILE} from what the server returns now for
                          the images in <dir>/images/, instead of checking
  --from FOLDER           with --record: take the images from FOLDER and copy those that
                          classify into <dir>/images/ (e.g. --from samples)
  --force                 with --record: replace an existing ${EXPECTED_FILE}

${PIPELINE_HELP}

${CONNECTION_HELP}
`;

/** Slashes in the names a test case stores, whatever the platform. */
const posix = (p: string): string => p.split(sep).join('/');

export const e2e: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS,
    ...PIPELINE_OPTIONS,
    tolerance: { type: 'string' },
    record: { type: 'boolean' },
    write: { type: 'boolean' },
    from: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError(`takes exactly one test-case folder, got ${positionals.length}`);
  const dir = resolve(io.cwd, positionals[0] as string);
  const record = boolFlag(flags, 'record') || boolFlag(flags, 'write');
  const tolerance = numberFlag(flags, 'tolerance');
  const from = stringFlag(flags, 'from');
  if (!record && (from !== undefined || boolFlag(flags, 'force'))) throw new UsageError('--from and --force only apply with --record');
  if (record && tolerance !== undefined) throw new UsageError('--tolerance applies when checking, not with --record');
  const settings = resolvePipeline(flags);
  const config = resolveConnection(flags, io.env);

  return record
    ? recordCase(io, dir, positionals[0] as string, from, boolFlag(flags, 'force'), settings, config)
    : checkCase(io, dir, tolerance ?? DEFAULT_TOLERANCE, settings, config);
});

async function checkCase(io: CliIo, dir: string, tolerance: number, settings: PipelineSettings, config: ConnectionConfig): Promise<number> {
  const expected = readExpected(join(dir, EXPECTED_FILE));
  if (expected.images.length === 0) throw new UsageError(`${join(dir, EXPECTED_FILE)} lists no images`);
  // The shared format names files relative to images/; a name relative to the case folder also works.
  const entries = expected.images.map(([name, weights]) => {
    const inImages = join(dir, 'images', name);
    const path = existsSync(inImages) || !existsSync(join(dir, name)) ? inImages : join(dir, name);
    return { file: { path, display: name } as InputFile, weights };
  });
  const present = entries.filter((e) => existsSync(e.file.path));

  const connection = await connect(config, io);
  const unusable = await checkService(connection, config, io);
  if (unusable !== undefined) return unusable;
  let collected;
  try {
    collected = await collectResults(
      connection.client,
      present.map((e) => e.file),
      settings,
      io,
    );
  } finally {
    await connection.close();
  }

  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (const e of entries) {
    const result = collected.results.get(e.file);
    if (result?.kind === 'success') checked += expected.classification_labels.length;
    mismatches.push(...compareImage(e.file.display, expected.classification_labels, e.weights, result, tolerance));
  }
  // Names come from the test case's JSON and the folder: escaped, so that none acts on the terminal.
  for (const m of mismatches) io.stdout.write(terminalSafe(renderMismatch(m)) + '\n');
  io.stderr.write(renderSummary(collected.stats, collected.elapsedMs) + '\n');
  if (collected.error !== undefined)
    io.stderr.write(`athena-rx e2e: the pipeline failed: ${describeCallError(collected.error, connection.address)}\n`);

  const badImages = new Set(mismatches.map((m) => m.file)).size;
  const head = `e2e ${posix(relative(io.cwd, dir)) || '.'}: ${entries.length} images, ${checked} weights checked, tolerance ${tolerance}`;
  if (mismatches.length === 0) {
    io.stdout.write(`${head}: PASS\n`);
    return EXIT.ok;
  }
  io.stdout.write(
    `${head}: FAIL (${mismatches.length} ${mismatches.length === 1 ? 'problem' : 'problems'} in ${badImages} of ${entries.length} images)\n`,
  );
  return EXIT.failed;
}

async function recordCase(
  io: CliIo,
  dir: string,
  dirArg: string,
  from: string | undefined,
  force: boolean,
  settings: PipelineSettings,
  config: ConnectionConfig,
): Promise<number> {
  const target = join(dir, EXPECTED_FILE);
  if (existsSync(target) && !force) throw new UsageError(`${target} exists: add --force to replace it, or record into a new folder`);
  const imagesDir = join(dir, 'images');

  // The files to classify, and the name each gets under images/.
  let files: InputFile[];
  if (from !== undefined) {
    const fromRoot = resolve(io.cwd, from);
    const base = existsSync(fromRoot) && statSync(fromRoot).isDirectory() ? fromRoot : dirname(fromRoot);
    files = (await expandInputs([from], io.cwd)).map((f) => ({ path: f.path, display: posix(relative(base, f.path)) }));
  } else {
    if (!existsSync(imagesDir))
      throw new UsageError(`no folder ${imagesDir}: put the test images there, or take them from a folder with --from FOLDER`);
    files = (await expandInputs([imagesDir], io.cwd)).map((f) => ({ path: f.path, display: posix(relative(imagesDir, f.path)) }));
  }
  files.sort((a, b) => (a.display < b.display ? -1 : a.display > b.display ? 1 : 0));

  const connection = await connect(config, io);
  const unusable = await checkService(connection, config, io);
  if (unusable !== undefined) return unusable;
  let collected;
  try {
    collected = await collectResults(connection.client, files, settings, io);
  } finally {
    await connection.close();
  }
  io.stderr.write(renderSummary(collected.stats, collected.elapsedMs) + '\n');
  if (collected.error !== undefined) {
    io.stderr.write(`athena-rx e2e: the pipeline failed: ${describeCallError(collected.error, connection.address)}; nothing recorded\n`);
    return EXIT.failed;
  }

  const recorded: Array<{ file: string; classifications: Readonly<Record<string, number>>; order: string[] }> = [];
  for (const f of files) {
    const result = collected.results.get(f);
    if (result?.kind !== 'success') {
      // An image that cannot be classified has no expected weights: it is left out, and said so.
      const why = result ? `${result.code}: ${result.message}` : 'no result';
      io.stderr.write(terminalSafe(`not recorded: ${f.display} (${why})`) + '\n');
      continue;
    }
    if (from !== undefined) {
      const dest = join(imagesDir, f.display);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(f.path, dest);
    }
    recorded.push({ file: f.display, classifications: result.classifications, order: result.raw.map((c) => c.label) });
  }
  if (recorded.length === 0) {
    io.stderr.write('athena-rx e2e: no image could be classified; nothing recorded\n');
    return EXIT.failed;
  }
  mkdirSync(dir, { recursive: true });
  const expected = recordExpected(recorded);
  writeFileSync(target, JSON.stringify(expected, null, 2) + '\n');
  io.stdout.write(
    `recorded ${recorded.length} images x ${expected.classification_labels.length} labels in ${posix(relative(io.cwd, target))}; check it with: athena-rx e2e ${dirArg}\n`,
  );
  return EXIT.ok;
}

/** Fail fast and say it once: exit 3 with one message when the service cannot be used at all. */
async function checkService(
  connection: Awaited<ReturnType<typeof connect>>,
  config: ConnectionConfig,
  io: CliIo,
): Promise<number | undefined> {
  const problem = await preflight(connection, config, io, { token: connection.token });
  if (problem === undefined) return undefined;
  await connection.close();
  io.stderr.write(`athena-rx e2e: ${problem}\n`);
  return EXIT.unavailable;
}
