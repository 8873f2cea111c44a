import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { messageOf } from './errors';
import type { ClassificationResult } from '../index';

/** Output formats of `classify`: `table` for people, the others for programs. */
export const FORMATS = ['table', 'jsonl', 'csv', 'json'] as const;
export type OutputFormat = (typeof FORMATS)[number];

/** One image's result as the machine-readable formats write it. */
export interface ResultRecord {
  /** The path as the user named it (relative to the working directory when inside it). */
  readonly file: string;
  readonly correlationId: string;
  readonly outcome: 'success' | 'failure';
  /** Label to weight, in the order the service sent them; empty on failure. */
  readonly labels: Readonly<Record<string, number>>;
  /** Why it failed (a server `ERROR_CODE_*` or a client code such as `DECODE_FAILED`); null on success. */
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** How many times the image was sent (0 when it failed before sending). */
  readonly attempts: number;
}

/** Builds the record of one result; `file` is what to show for its source. */
export function toRecord(result: ClassificationResult, file: string): ResultRecord {
  if (result.kind === 'success') {
    const labels: Record<string, number> = {};
    for (const c of result.raw) labels[c.label] = c.weight;
    // Labels the raw list lacks but the map has (should not happen) are still reported.
    for (const [label, weight] of Object.entries(result.classifications)) if (!(label in labels)) labels[label] = weight;
    return {
      file,
      correlationId: result.correlationId,
      outcome: 'success',
      labels,
      errorCode: null,
      errorMessage: null,
      attempts: result.attempts,
    };
  }
  return {
    file,
    correlationId: result.correlationId,
    outcome: 'failure',
    labels: {},
    errorCode: result.code,
    errorMessage: result.message,
    attempts: result.attempts,
  };
}

/** The label holding the probability of CSAM, the value a user thresholds. */
const PCSAM_LABEL = 'UnknownCSAM-PCSAM';
/** Labels that are not categories: left out when ranking the "top" labels for people. */
const NOT_CATEGORIES: ReadonlySet<string> = new Set(['UnknownCSAM-Entropy', PCSAM_LABEL]);

/** The `n` heaviest category labels, heaviest first (Entropy and PCSAM are summaries, not categories). */
export function topLabels(labels: Readonly<Record<string, number>>, n: number): Array<[string, number]> {
  return Object.entries(labels)
    .filter(([label]) => !NOT_CATEGORIES.has(label))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n);
}

export { terminalSafe } from './terminal';
import { terminalSafe } from './terminal';

/** Writing the output failed (a full disk, a closed pipe): the run stops and says so. */
export class OutputError extends Error {
  readonly code = 'OUTPUT_FAILED';
  constructor(
    message: string,
    /** The system error code (`ENOSPC`, `EIO`, ...), when there is one. */
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'OutputError';
  }
}

/** Where output goes. Each `write` is complete when it returns, so a crash loses no finished line. */
export interface Sink {
  /**
   * Writes `text`. `trailer` (a JSON document's closing bracket) is written after it where the
   * sink can take it back: the next write replaces it, so the file is a complete document after
   * every write. Sinks that cannot seek ignore it.
   *
   * @throws OutputError when the bytes could not all be written; nothing of `text` stays then.
   */
  write(text: string, trailer?: string): void;
  close(): void;
}

/** A sink on a file descriptor that {@link fileSink} opened. */
export interface FileSink extends Sink {
  /** Forces what was written to the disk (`fsync`). */
  sync(): void;
  /** The file's identity when opened, to notice it being deleted or replaced during the run. */
  readonly ino: number;
}

/**
 * A file written with `writeSync`, one whole record per call: every line is in the kernel before
 * the next result is handled, so a crash or a kill leaves all finished lines in the file and no
 * half line. A regular file is written at known offsets: a write that fails part way (a full
 * disk) is cut back to the last whole record, and a trailer is overwritten by the next record.
 *
 * `flags` is `'w'` (replace) or `'wx'` (a new file, for the resume's rewrite).
 */
export function fileSink(path: string, flags: 'w' | 'wx' = 'w'): FileSink {
  const fd = openSync(path, flags);
  const st = fstatSync(fd);
  const seekable = st.isFile();
  let end = 0; // bytes of whole records written (a trailer lies beyond)
  let open = true;
  const fail = (err: unknown): OutputError => {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const reason = code === 'ENOSPC' ? 'no space left on device' : code === 'EDQUOT' ? 'disk quota exceeded' : messageOf(err);
    return new OutputError(`cannot write '${path}': ${reason}${code ? ` (${code})` : ''}`, code);
  };
  const writeAll = (buf: Buffer, at: number | null): void => {
    let offset = 0;
    while (offset < buf.length) offset += writeSync(fd, buf, offset, buf.length - offset, at === null ? null : at + offset);
  };
  return {
    ino: st.ino,
    write(text: string, trailer = ''): void {
      const body = Buffer.from(text, 'utf8');
      if (!seekable) {
        try {
          writeAll(body, null);
        } catch (err) {
          throw fail(err);
        }
        return;
      }
      const tail = Buffer.from(trailer, 'utf8');
      try {
        // Trailers never shrink (`]` then `\n]`), so what lay beyond is always overwritten.
        writeAll(tail.length > 0 ? Buffer.concat([body, tail]) : body, end);
      } catch (err) {
        // Leave the file as it was after the last whole record (its trailer is rewritten by the
        // caller's next attempt, or by end()): never a half line.
        try {
          ftruncateSync(fd, end);
        } catch {
          // The disk may refuse even that; the error below says what happened.
        }
        throw fail(err);
      }
      end += body.length;
    },
    sync(): void {
      try {
        fsyncSync(fd);
      } catch (err) {
        throw fail(err);
      }
    },
    close(): void {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * A stream such as stdout. Node writes stdout synchronously to files and (on Linux and macOS)
 * to pipes and terminals, so each line is out when `write` returns.
 */
export function streamSink(stream: NodeJS.WritableStream): Sink {
  return { write: (text) => void stream.write(text), close: () => undefined };
}

/** Writes results one by one as they arrive. */
export interface ResultWriter {
  /** Called once before the first result (headers, an opening bracket). */
  begin(): void;
  write(record: ResultRecord): void;
  /** Called once after the last result (a closing bracket). */
  end(): void;
}

export interface WriterOptions {
  /** Labels per image in the table. */
  readonly top: number;
  /** Width of the file column in the table (the longest name to come, so columns line up while streaming). */
  readonly fileWidth: number;
}

/**
 * A CSV field: a value a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
 * a tab or a carriage return) gets a leading `'`, as OWASP advises against CSV injection; a value
 * that starts with `'` gets another, so that {@link csvUnneutralise} restores every value
 * exactly. Then quoted when it must be (RFC 4180).
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r']/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== value ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The value {@link csvField} neutralised (after RFC 4180 unquoting). */
export function csvUnneutralise(field: string): string {
  return field.startsWith("'") ? field.slice(1) : field;
}

export const CSV_HEADER = 'file,correlation_id,outcome,error_code,error_message,attempts,labels';

/** `label=weight;label=weight`, in the service's order: one column whatever the label set. */
export function csvLabels(labels: Readonly<Record<string, number>>): string {
  return Object.entries(labels)
    .map(([l, w]) => `${l}=${w}`)
    .join(';');
}

/** Formats a weight for people: four decimals are enough to rank and read. */
const weight4 = (w: number): string => w.toFixed(4);

export function createWriter(format: OutputFormat, sink: Sink, options: WriterOptions): ResultWriter {
  switch (format) {
    case 'jsonl':
      return { begin: () => undefined, write: (r) => sink.write(JSON.stringify(r) + '\n'), end: () => undefined };
    case 'json': {
      // Written element by element, each followed by the closing bracket that the next element
      // overwrites (in a file): after every write the file is a complete JSON document.
      let first = true;
      return {
        begin: () => sink.write('[', ']\n'),
        write: (r) => {
          sink.write(`${first ? '\n' : ',\n'}  ${JSON.stringify(r)}`, '\n]\n');
          first = false;
        },
        end: () => sink.write(first ? ']\n' : '\n]\n'),
      };
    }
    case 'csv':
      return {
        begin: () => sink.write(CSV_HEADER + '\n'),
        write: (r) =>
          sink.write(
            [r.file, r.correlationId, r.outcome, r.errorCode ?? '', r.errorMessage ?? '', String(r.attempts), csvLabels(r.labels)]
              .map(csvField)
              .join(',') + '\n',
          ),
        end: () => undefined,
      };
    case 'table': {
      const w = Math.max(4, Math.min(60, options.fileWidth));
      // Names and messages are escaped first: a control character in a file name cannot act on the
      // terminal, and a newline cannot split a row.
      const fit = (name: string): string => {
        const file = terminalSafe(name);
        return file.length > w ? '...' + file.slice(file.length - w + 3) : file.padEnd(w);
      };
      return {
        begin: () => sink.write(`${'FILE'.padEnd(w)}  RESULT  PCSAM   ${options.top === 1 ? 'TOP LABEL' : `TOP ${options.top} LABELS`}\n`),
        write: (r) => {
          if (r.outcome === 'success') {
            const top = topLabels(r.labels, options.top).map(([l, v]) => `${terminalSafe(l)} ${weight4(v)}`);
            // PCSAM, the value to threshold (README), in a column of its own: not ranked among the categories.
            const pcsam = r.labels[PCSAM_LABEL];
            const shown = (pcsam === undefined ? '-' : weight4(pcsam)).padEnd(6);
            sink.write(`${fit(r.file)}  ok      ${shown}  ${top.join('  ') || '(no labels)'}\n`);
          } else {
            sink.write(`${fit(r.file)}  FAILED  ${'-'.padEnd(6)}  ${terminalSafe(`${r.errorCode}: ${r.errorMessage}`)}\n`);
          }
        },
        end: () => undefined,
      };
    }
  }
}
