import { from, map, mergeMap, of, type Observable } from 'rxjs';
import {
  preprocess,
  prepareImage,
  type ClassificationResult,
  type ImageInput,
  type PreparedImage,
} from '../index';
import type { AthenaGrpcClient } from '../transport/index';
import type { InputFile } from './files';
import type { PipelineSettings } from './pipelineOptions';
import type { CliIo } from './io';
import { ProgressBar } from './progress';
import { RunStats, type ImageBytes } from './summary';

/** What the commands learn while the pipeline runs, besides the results. */
export interface PipelineHooks {
  /** Called once per image that was prepared, with its byte counts (for the summary). */
  onPrepared?(sizes: ImageBytes): void;
}

/**
 * Classifies the files: one result per file, in the order they finish, each carrying its
 * {@link InputFile} as `ref`. Per-image problems are failure results; the Observable errors only
 * when the whole pipeline fails.
 */
export function runPipeline(
  client: AthenaGrpcClient,
  files: readonly InputFile[],
  settings: PipelineSettings,
  hooks: PipelineHooks = {},
): Observable<ClassificationResult<InputFile>> {
  const prepareOptions = {
    encoding: settings.encoding,
    brotliQuality: settings.encoding === 'brotli' ? settings.brotliQuality : undefined,
    hashes: settings.hashes,
    affiliate: client.affiliate,
  };
  const inputs = files.map((file): ImageInput<InputFile> => ({ source: file.path, ref: file }));
  return from(inputs).pipe(
    preprocess<InputFile>({
      ...prepareOptions,
      concurrency: settings.concurrency,
      // Taps each prepared image's sizes for the summary; the image itself goes on unchanged.
      prepare: (input) =>
        from(prepareImage<InputFile>(input as ImageInput<InputFile>, prepareOptions)).pipe(
          map((prepared) => {
            hooks.onPrepared?.(prepared.sizes);
            return prepared;
          }),
        ),
    }),
    // Interim: one ClassifySingle per image until the streaming operators land.
    mergeMap((item): Observable<ClassificationResult<InputFile>> => {
      if (item.kind === 'failure') return of(item);
      return from(single(client, item));
    }, settings.inFlight),
  );
}

async function single(client: AthenaGrpcClient, p: PreparedImage<InputFile>): Promise<ClassificationResult<InputFile>> {
  const started = performance.now();
  const base = { correlationId: p.correlationId, ref: p.ref, attempts: 1, timings: { prepareMs: p.timings.totalMs, roundTripMs: 0 } };
  try {
    const out = await client.classifySingle({
      correlationId: p.correlationId,
      format: p.format,
      encoding: p.encoding,
      data: p.data,
      hashes: [...p.hashes],
      ...(p.affiliate ? { affiliate: p.affiliate } : {}),
    });
    const timings = { ...base.timings, roundTripMs: performance.now() - started };
    if (out.error && (out.error.code !== 'ERROR_CODE_UNSPECIFIED' || out.error.message)) {
      return { ...base, timings, kind: 'failure', code: out.error.code, message: out.error.message, details: out.error.details, retryable: false, stage: 'server' };
    }
    const classifications: Record<string, number> = {};
    for (const c of out.classifications) classifications[c.label] = c.weight;
    return { ...base, timings, kind: 'success', classifications, raw: out.classifications };
  } catch (err) {
    return { ...base, kind: 'failure', code: 'TRANSPORT_FAILED', message: err instanceof Error ? err.message : String(err), details: '', retryable: false, stage: 'transport' };
  }
}

/** What {@link collectResults} gathered. */
export interface Collected {
  readonly results: Map<InputFile, ClassificationResult<InputFile>>;
  readonly stats: RunStats;
  readonly elapsedMs: number;
  /** Set when the whole pipeline failed (some files then have no result). */
  readonly error?: unknown;
}

/**
 * Runs the pipeline to the end and keeps every result, with the progress line on stderr (when
 * it is a terminal): for commands that judge results together (`e2e`), not one by one.
 */
export function collectResults(client: AthenaGrpcClient, files: readonly InputFile[], settings: PipelineSettings, io: CliIo): Promise<Collected> {
  const stats = new RunStats();
  const results = new Map<InputFile, ClassificationResult<InputFile>>();
  const progress = new ProgressBar(io.stderr, files.length);
  const startedAt = performance.now();
  return new Promise<Collected>((resolve) => {
    const finish = (error?: unknown): void => {
      progress.stop();
      resolve({ results, stats, elapsedMs: performance.now() - startedAt, ...(error !== undefined ? { error } : {}) });
    };
    runPipeline(client, files, settings, { onPrepared: (sizes) => stats.addBytes(sizes) }).subscribe({
      next: (result) => {
        results.set(result.ref as InputFile, result);
        if (result.kind === 'success') stats.addSuccess();
        else stats.addFailure(result.code);
        progress.update(stats.done, stats.failed);
      },
      error: (err: unknown) => finish(err),
      complete: () => finish(),
    });
  });
}
