import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { messageOf } from './errors';
import { UsageError } from './io';
import { fileSink, streamSink, terminalSafe, type FileSink, type OutputFormat, type ResultRecord, type Sink } from './output';
import { lockOutput, type OutputLock } from './outputLock';
import { isFinal, readPreviousOutput, type PreviousOutput } from './resume';

/** How `classify` was asked to write: the flags that decide it. */
export interface OutputRequest {
  /** `--output`, as the user gave it; undefined for stdout. */
  readonly output?: string;
  /** `--format`, if given. */
  readonly format?: OutputFormat;
  readonly resume: boolean;
  readonly force: boolean;
  readonly cwd: string;
  /** Told of a stale lock taken over or a stale temporary file removed (one line each). */
  readonly notice?: (line: string) => void;
}

/** Where results go, decided and checked before any work starts. */
export interface OutputPlan {
  readonly format: OutputFormat;
  /** Absolute path of the output file, if any. */
  readonly path?: string;
  /** Files (by `display`) that already have a final result in the file being resumed. */
  readonly done: ReadonlySet<string>;
  /** The earlier run's final records, written again first when resuming. */
  readonly kept: readonly ResultRecord[];
  /** Lines of the earlier output that could not be read (and are dropped). */
  readonly unreadable: number;
  /** The output file's lock, held from the plan on: the caller releases it on every way out. */
  readonly lock?: OutputLock;
}

/**
 * Checks the output flags against the file system: a non-empty output file is replaced only with
 * `--force`; `--resume` reads it (jsonl, csv or json) for the inputs that already have a final
 * result. Throws a {@link UsageError} that says what to do. The output file is locked
 * ({@link lockOutput}) before it is read, so that no other run writes it from here on; nothing
 * in it is changed until {@link openOutput}.
 */
export function planOutput(request: OutputRequest): OutputPlan {
  const { output, resume, force } = request;
  if (resume && force)
    throw new UsageError('--resume and --force contradict each other: --resume keeps the results in --output, --force replaces them');
  if (output === undefined) {
    if (resume) throw new UsageError('--resume needs --output FILE: the results of the earlier run are read from that file');
    if (force) throw new UsageError('--force only applies with --output FILE');
    return { format: request.format ?? 'table', done: new Set(), kept: [], unreadable: 0 };
  }
  const path = resolve(request.cwd, output);
  const lock = lockOutput(path, output, request.notice ?? (() => undefined));
  try {
    return { ...planFile(request, output, path), lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** {@link planOutput} for an output file, once it is locked. */
function planFile(request: OutputRequest, output: string, path: string): OutputPlan {
  const { resume, force } = request;
  const existing = statSync(path, { throwIfNoEntry: false });
  const hasResults = existing?.isFile() === true && existing.size > 0;
  if (hasResults && !resume && !force) {
    throw new UsageError(
      `--output '${output}' already holds results (${existing.size} bytes): add --resume to go on from them, or --force to replace them`,
    );
  }
  let previous: PreviousOutput | undefined;
  if (resume && hasResults) {
    previous = readPreviousOutput(path, output);
    if (request.format !== undefined && request.format !== previous.format) {
      throw new UsageError(
        `--resume: '${output}' holds ${previous.format} output, not ${request.format}: drop --format or give --format ${previous.format}`,
      );
    }
  }
  // A first run with --resume (nothing to resume yet) takes the format from the file's extension.
  const byExtension = resume ? FORMAT_BY_EXTENSION[extname(path).toLowerCase()] : undefined;
  const format = request.format ?? previous?.format ?? byExtension ?? 'table';
  if (resume && format === 'table') throw new UsageError('--resume needs --format jsonl, csv or json (a table cannot be read back)');
  // The last final result of each file wins; results to try again are dropped (they are redone).
  const finalByFile = new Map<string, ResultRecord>();
  for (const record of previous?.records ?? []) if (isFinal(record)) finalByFile.set(record.file, record);
  return { format, path, done: new Set(finalByFile.keys()), kept: [...finalByFile.values()], unreadable: previous?.unreadable ?? 0 };
}

const FORMAT_BY_EXTENSION: Readonly<Record<string, OutputFormat>> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.csv': 'csv',
  '.json': 'json',
};

/** An open output: the sink, and the checks to make at the end. */
export interface OpenOutput {
  readonly sink: Sink;
  /**
   * Called before the first result: when resuming, the kept records were written to a new file
   * (through `writeKept`), which now replaces the old one atomically.
   */
  commit(): void;
  /** An error message when the output file was deleted or replaced during the run (its results are lost). */
  lostFile(): string | undefined;
}

/**
 * Opens the planned output. When resuming, results go to a new file beside the old one, which
 * takes the old one's place once the kept records are in it ({@link OpenOutput.commit}): a crash
 * in between leaves the old file whole.
 */
export function openOutput(plan: OutputPlan, stdout: NodeJS.WritableStream, name: string | undefined): OpenOutput {
  if (plan.path === undefined) return { sink: streamSink(stdout), commit: () => undefined, lostFile: () => undefined };
  const target = plan.path;
  const rewrite = plan.kept.length > 0 || plan.unreadable > 0;
  const openAt = rewrite ? `${target}.${process.pid}.resume.tmp` : target;
  let sink: FileSink;
  try {
    sink = fileSink(openAt, rewrite ? 'wx' : 'w');
  } catch (err) {
    throw new UsageError(`--output: cannot write '${name ?? target}' (${messageOf(err)})`);
  }
  let committed = !rewrite;
  return {
    sink,
    commit(): void {
      if (committed) return;
      sink.sync();
      renameSync(openAt, target);
      committed = true;
    },
    lostFile(): string | undefined {
      if (!committed) {
        rmSync(openAt, { force: true });
        return undefined;
      }
      const now = statSync(target, { throwIfNoEntry: false });
      if (now?.ino === sink.ino) return undefined;
      return `the output file '${name ?? target}' was ${now ? 'replaced' : 'deleted'} during the run: the results written to it are lost`;
    },
  };
}

/** Where the inputs without a result are listed after an interrupted run with --output. */
export const missingListPath = (outputPath: string): string => `${outputPath}.missing`;

/**
 * Says which inputs got no result: the first few on stderr, and all of them, one per line, in
 * `<output>.missing` when there is an output file. A complete run removes a stale list.
 */
export function reportMissing(missing: readonly string[], total: number, interrupted: boolean, outputPath: string | undefined): string {
  if (outputPath !== undefined && missing.length === 0) {
    if (existsSync(missingListPath(outputPath))) rmSync(missingListPath(outputPath), { force: true });
    return '';
  }
  if (missing.length === 0) return '';
  const lines = [`${missing.length} of ${total} images got no result${interrupted ? ' (interrupted)' : ''}:`];
  const shown = missing.slice(0, 10);
  for (const file of shown) lines.push(`  ${terminalSafe(file)}`);
  if (missing.length > shown.length) lines.push(`  ... and ${missing.length - shown.length} more`);
  if (outputPath !== undefined) {
    const list = missingListPath(outputPath);
    try {
      writeFileSync(list, missing.map((f) => terminalSafe(f) + '\n').join(''));
      lines.push(`all ${missing.length} are listed in ${list}; run the same command with --resume to classify them`);
    } catch (err) {
      lines.push(`(could not write the list to ${list}: ${messageOf(err)})`);
    }
  }
  return lines.join('\n') + '\n';
}
