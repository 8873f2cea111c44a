import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * Largest inline image a job may carry (decoded bytes, before base64): 1 MiB. A Redis stream
 * entry is held in memory until it is trimmed, so big images belong on shared storage and the
 * job names their path; 1 MiB covers thumbnails and typical uploads without turning Redis into
 * an image store. Larger inline payloads get a `JOB_TOO_LARGE` failure.
 */
export const DEFAULT_MAX_INLINE_BYTES = 1024 * 1024;

/**
 * Largest job entry, bytes, not counting an inline image's `data` (bounded by its own
 * `maxInlineBytes`): 64 KiB. A job is a path and a few fields; the worker holds every job it
 * works on and copies its `fields` to the result, so an unbounded entry would cost its size
 * twice in Redis and many times in the worker. A larger entry gets `JOB_TOO_LARGE` without being
 * parsed, and its fields are not copied.
 */
export const DEFAULT_MAX_JOB_BYTES = 64 * 1024;

/** The stream entry field that holds a job's JSON. */
export const JOB_FIELD = 'job';

/**
 * A job as a producer writes it: `XADD <stream> * job <JSON>`. Exactly one of `path` and `data`.
 *
 * ```json
 * { "path": "/mnt/uploads/2026/11/30/a1b2.jpg", "fields": { "upload": 8812, "user": "u-77" } }
 * { "data": "<base64 of the image file>", "fields": { "upload": 8813 } }
 * ```
 */
export interface ImageJob {
  /** The image on storage that every worker can read (absolute, or relative to the worker's root). */
  readonly path?: string;
  /** The image file itself, base64, at most {@link DEFAULT_MAX_INLINE_BYTES} decoded by default. */
  readonly data?: string;
  /** The caller's own fields: returned unchanged on the job's result. Any JSON object. */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Why a job could not be taken at all (before any image was read). */
export type JobErrorCode =
  /** Not a JSON object with exactly one of `path` (a non-empty string) and `data` (base64). */
  | 'JOB_MALFORMED'
  /** `data` decodes to more than the worker's `maxInlineBytes`, or the rest of the entry is over its `maxJobBytes`. */
  | 'JOB_TOO_LARGE'
  /** `path` leads outside the worker's `root`. */
  | 'JOB_PATH_OUTSIDE_ROOT'
  /** Delivered `maxDeliveries` times without a final result: moved to the dead-letter stream. */
  | 'JOB_DEAD_LETTERED';

/** A job taken apart: where its image is, and the caller's fields. */
export type ParsedJob =
  | { readonly ok: true; readonly source: string | Buffer; readonly fields: Readonly<Record<string, unknown>> | undefined }
  | {
      readonly ok: false;
      readonly code: JobErrorCode;
      readonly message: string;
      readonly fields: Readonly<Record<string, unknown>> | undefined;
    };

/** How {@link parseJob} checks jobs. */
export interface ParseJobOptions {
  /** Relative paths resolve against it, and a path must stay inside it when it is set. */
  readonly root?: string;
  /** Default {@link DEFAULT_MAX_INLINE_BYTES}. */
  readonly maxInlineBytes?: number;
  /** Largest entry without its inline `data`, bytes. Default {@link DEFAULT_MAX_JOB_BYTES}. */
  readonly maxJobBytes?: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const malformed = (message: string, fields?: Readonly<Record<string, unknown>>): ParsedJob => ({
  ok: false,
  code: 'JOB_MALFORMED',
  message,
  fields,
});

/** Field-value pairs of a stream entry (`[k1, v1, k2, v2, ...]`) as an object; later duplicates win. */
export function entryFields(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

/**
 * Reads one job entry. Never throws: anything wrong with the entry is a `{ ok: false }` with a
 * code and a message that says what to fix, so a bad job becomes a failure result and never
 * blocks the stream.
 */
export function parseJob(flat: readonly string[], options: ParseJobOptions = {}): ParsedJob {
  const limit = options.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES;
  const maxJobBytes = options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES;
  const size = flat.reduce((n, field) => n + Buffer.byteLength(field), 0);
  const tooLarge = (): ParsedJob => ({
    ok: false,
    code: 'JOB_TOO_LARGE',
    message: `the job entry is ${size} bytes without its inline image, over the worker's limit of ${maxJobBytes} (--max-job-bytes); its fields are not copied to this result`,
    fields: undefined,
  });
  // Not even parsed when it cannot fit: the largest base64 of an allowed inline image, plus the limit.
  if (size > maxJobBytes + Math.ceil(limit / 3) * 4) return tooLarge();
  const raw = entryFields(flat)[JOB_FIELD];
  if (raw === undefined)
    return malformed(`the entry has no '${JOB_FIELD}' field: add jobs with XADD <stream> * ${JOB_FIELD} '{"path": ...}'`);
  let job: unknown;
  try {
    job = JSON.parse(raw);
  } catch (err) {
    return malformed(`the '${JOB_FIELD}' field is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof job !== 'object' || job === null || Array.isArray(job))
    return malformed(`the job must be a JSON object, got ${Array.isArray(job) ? 'an array' : typeof job}`);
  const { path, data, fields } = job as Record<string, unknown>;
  if (size - (typeof data === 'string' ? data.length : 0) > maxJobBytes) return tooLarge();
  let ownFields: Readonly<Record<string, unknown>> | undefined;
  if (fields !== undefined) {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return malformed("'fields' must be a JSON object");
    ownFields = fields as Record<string, unknown>;
  }
  if ((path === undefined) === (data === undefined)) return malformed("a job needs exactly one of 'path' and 'data'", ownFields);
  if (path !== undefined) {
    if (typeof path !== 'string' || path === '') return malformed("'path' must be a non-empty string", ownFields);
    if (path.includes('\0')) return malformed("'path' contains a NUL character", ownFields);
    const full = resolve(options.root ?? process.cwd(), path);
    if (options.root !== undefined) {
      const rel = relative(resolve(options.root), full);
      if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
        return {
          ok: false,
          code: 'JOB_PATH_OUTSIDE_ROOT',
          message: `'${path}' is outside the worker's root ${options.root}`,
          fields: ownFields,
        };
      }
    }
    return { ok: true, source: full, fields: ownFields };
  }
  if (typeof data !== 'string' || data === '') return malformed("'data' must be a non-empty base64 string", ownFields);
  // Checked on the encoded length first, so an oversized payload is never decoded.
  if (Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0) > limit) {
    return {
      ok: false,
      code: 'JOB_TOO_LARGE',
      message: `the inline image is over ${limit} bytes: put it on shared storage and send its 'path'`,
      fields: ownFields,
    };
  }
  if (data.length % 4 !== 0 || !BASE64.test(data)) return malformed("'data' is not base64 (standard alphabet, padded)", ownFields);
  return { ok: true, source: Buffer.from(data, 'base64'), fields: ownFields };
}

/** The entry fields of a job, for `XADD <stream> * ...fields`. */
export function encodeJob(job: ImageJob): string[] {
  return [JOB_FIELD, JSON.stringify(job)];
}

/**
 * The result of one job, as the worker appends it to the results stream: entry fields `job` (the
 * job's entry id), `kind`, and `result` (this object as JSON).
 */
export type JobResult = JobSuccess | JobFailure;

/** The fields every job result has, success or failure. */
export interface JobResultBase {
  /** The job's entry id in the jobs stream. */
  readonly job: string;
  /** The caller's `fields` of the job, unchanged. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** The correlation id the image was sent under (`<job id>/<delivery>`), when it got that far. */
  readonly correlationId?: string;
  /** The consumer (worker) that wrote the result. */
  readonly consumer: string;
  /** How many times the job was delivered to a worker (1 unless a worker died or failed it). */
  readonly deliveries: number;
  /** How many times the image was sent to the service by the worker that wrote the result. */
  readonly attempts: number;
}

/** A job whose image was classified. */
export interface JobSuccess extends JobResultBase {
  /** `switch (result.kind)` to tell a success from a failure. */
  readonly kind: 'success';
  /** Label to weight, as `ClassificationSuccess.classifications`. */
  readonly classifications: Readonly<Record<string, number>>;
}

/** A job that got no classification: why is in `code` and `message`. */
export interface JobFailure extends JobResultBase {
  /** `switch (result.kind)` to tell a success from a failure. */
  readonly kind: 'failure';
  /** A pipeline `FailureCode` (`SOURCE_UNREADABLE`, `UNSUPPORTED_FORMAT`, ...) or a {@link JobErrorCode}. */
  readonly code: string;
  /** What went wrong, for people (never image bytes). */
  readonly message: string;
  /** Whether another try could pass: true only on a `released` event's failure (the job is delivered again); a written result's failure is final (false). */
  readonly retryable: boolean;
  /** `'job'` for a {@link JobErrorCode}, else the pipeline stage that failed. */
  readonly stage: string;
}

/** The entry fields of a result, for `XADD <results> * ...fields`. */
export function encodeResult(result: JobResult): string[] {
  return ['job', result.job, 'kind', result.kind, 'result', JSON.stringify(result)];
}

/** Reads a result entry back (as a consumer of the results stream does). */
export function parseResult(flat: readonly string[]): JobResult {
  const fields = entryFields(flat);
  return JSON.parse(fields.result ?? 'null') as JobResult;
}
