import { closeSync, openSync, writeSync } from 'node:fs';
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
    return { file, correlationId: result.correlationId, outcome: 'success', labels, errorCode: null, errorMessage: null, attempts: result.attempts };
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

/** Labels that are not categories: left out when ranking the "top" labels for people. */
const NOT_CATEGORIES: ReadonlySet<string> = new Set(['UnknownCSAM-Entropy', 'UnknownCSAM-PCSAM']);

/** The `n` heaviest category labels, heaviest first (Entropy and PCSAM are summaries, not categories). */
export function topLabels(labels: Readonly<Record<string, number>>, n: number): Array<[string, number]> {
  return Object.entries(labels)
    .filter(([label]) => !NOT_CATEGORIES.has(label))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n);
}

/** Where output goes. Each `write` is complete when it returns, so a crash loses no finished line. */
export interface Sink {
  write(text: string): void;
  close(): void;
}

/**
 * A file written with `writeSync`: every line is in the kernel before the next result is
 * handled, so a crash or a kill leaves all finished lines in the file.
 */
export function fileSink(path: string): Sink {
  const fd = openSync(path, 'w');
  let open = true;
  return {
    write(text: string): void {
      const buf = Buffer.from(text, 'utf8');
      let offset = 0;
      while (offset < buf.length) offset += writeSync(fd, buf, offset, buf.length - offset);
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

/** Quotes a CSV field when it must be (RFC 4180). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export const CSV_HEADER = 'file,correlation_id,outcome,error_code,error_message,attempts,labels';

/** `label=weight;label=weight`, in the service's order: one column whatever the label set. */
export function csvLabels(labels: Readonly<Record<string, number>>): string {
  return Object.entries(labels).map(([l, w]) => `${l}=${w}`).join(';');
}

/** Formats a weight for people: four decimals are enough to rank and read. */
const weight4 = (w: number): string => w.toFixed(4);

export function createWriter(format: OutputFormat, sink: Sink, options: WriterOptions): ResultWriter {
  switch (format) {
    case 'jsonl':
      return { begin: () => undefined, write: (r) => sink.write(JSON.stringify(r) + '\n'), end: () => undefined };
    case 'json': {
      // Written element by element: a crash leaves the opening bracket and every finished element.
      let first = true;
      return {
        begin: () => sink.write('['),
        write: (r) => {
          sink.write(`${first ? '\n' : ',\n'}  ${JSON.stringify(r)}`);
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
      const fit = (file: string): string => (file.length > w ? '...' + file.slice(file.length - w + 3) : file.padEnd(w));
      return {
        begin: () => sink.write(`${'FILE'.padEnd(w)}  RESULT  ${options.top === 1 ? 'TOP LABEL' : `TOP ${options.top} LABELS`}\n`),
        write: (r) => {
          if (r.outcome === 'success') {
            const top = topLabels(r.labels, options.top).map(([l, v]) => `${l} ${weight4(v)}`);
            sink.write(`${fit(r.file)}  ok      ${top.join('  ') || '(no labels)'}\n`);
          } else {
            sink.write(`${fit(r.file)}  FAILED  ${r.errorCode}: ${r.errorMessage}\n`);
          }
        },
        end: () => undefined,
      };
    }
  }
}
