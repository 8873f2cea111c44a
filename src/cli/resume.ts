import { readFileSync } from 'node:fs';
import { CSV_HEADER, csvUnneutralise, type OutputFormat, type ResultRecord } from './output';
import { UsageError } from './io';
import { messageOf } from './errors';

/**
 * Failure codes that say nothing about the image itself: the service, the network or reading the
 * file failed. An input with such a result is tried again by `--resume`; any other result
 * (a success, or a failure in the image, such as `UNSUPPORTED_FORMAT`) is final.
 */
const TRY_AGAIN: ReadonlySet<string> = new Set([
  'TRANSPORT_FAILED',
  'RESPONSE_TIMEOUT',
  'SOURCE_UNREADABLE',
  'ERROR_CODE_UNSPECIFIED',
  'ERROR_CODE_MODEL_ERROR',
  // Left unread after the service went away (fail-fast).
  'NOT_ATTEMPTED',
]);

/** Whether a result needs no second try. */
export function isFinal(record: Pick<ResultRecord, 'outcome' | 'errorCode'>): boolean {
  return record.outcome === 'success' || !TRY_AGAIN.has(record.errorCode ?? '');
}

/** What an earlier run left in its output file. */
export interface PreviousOutput {
  readonly format: Exclude<OutputFormat, 'table'>;
  /** Every record read, in file order. */
  readonly records: ResultRecord[];
  /** Lines or rows that could not be read (a half line left by an older version's crash). */
  readonly unreadable: number;
}

/** The records of `text`, an earlier run's jsonl, csv or json output. */
export function parsePreviousOutput(text: string, name: string): PreviousOutput {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) return parseJson(trimmed, name);
  if (trimmed.startsWith('{')) return parseJsonl(text);
  if (text.startsWith(CSV_HEADER)) return parseCsv(text);
  throw new UsageError(`--resume: '${name}' is not the jsonl, csv or json output of athena-rx classify (table output cannot be resumed)`);
}

/** Reads and parses the output file at `path` (`name` as the user gave it, for messages). */
export function readPreviousOutput(path: string, name: string): PreviousOutput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--resume: cannot read '${name}' (${messageOf(err)})`);
  }
  return parsePreviousOutput(text, name);
}

function isRecord(value: unknown): value is ResultRecord {
  const r = value as Partial<ResultRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.file === 'string' && (r.outcome === 'success' || r.outcome === 'failure');
}

function parseJsonl(text: string): PreviousOutput {
  const records: ResultRecord[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isRecord(value)) records.push(value);
      else unreadable++;
    } catch {
      unreadable++;
    }
  }
  return { format: 'jsonl', records, unreadable };
}

function parseJson(text: string, name: string): PreviousOutput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // An older version wrote the closing bracket only at the end: a crash left it out.
    try {
      value = JSON.parse(text.trimEnd().replace(/,$/, '') + '\n]');
    } catch {
      throw new UsageError(`--resume: '${name}' starts like JSON output but cannot be parsed; move it away or use --force to replace it`);
    }
  }
  if (!Array.isArray(value)) throw new UsageError(`--resume: '${name}' is JSON but not an array of results`);
  const records = value.filter(isRecord);
  return { format: 'json', records, unreadable: value.length - records.length };
}

/** RFC 4180 rows: quoted fields may hold commas, quotes and newlines. */
function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  // A last row without its newline is a half row: left out (and counted by the caller).
  if (field !== '' || row.length > 0) rows.push([...row, field, '\u0000partial']);
  return rows;
}

function parseCsv(text: string): PreviousOutput {
  const columns = CSV_HEADER.split(',').length;
  const records: ResultRecord[] = [];
  let unreadable = 0;
  for (const row of csvRows(text).slice(1)) {
    if (row.length !== columns) {
      unreadable++;
      continue;
    }
    const [file, correlationId, outcome, errorCode, errorMessage, attempts, labels] = row.map(csvUnneutralise) as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (outcome !== 'success' && outcome !== 'failure') {
      unreadable++;
      continue;
    }
    const parsedLabels: Record<string, number> = {};
    for (const pair of labels === '' ? [] : labels.split(';')) {
      const at = pair.lastIndexOf('=');
      parsedLabels[pair.slice(0, at)] = Number(pair.slice(at + 1));
    }
    records.push({
      file,
      correlationId,
      outcome,
      labels: parsedLabels,
      errorCode: errorCode === '' ? null : errorCode,
      errorMessage: errorMessage === '' ? null : errorMessage,
      attempts: Number(attempts) || 0,
    });
  }
  return { format: 'csv', records, unreadable };
}
