import { filter, from, map, pipe, tap, type Observable } from 'rxjs';
import {
  classifyImages,
  pipelineMetrics,
  prepareImage,
  type AthenaGrpcClient,
  type ClassificationEvent,
  type ClassificationResult,
  type ClassifyEvent,
  type ImageInput,
  type PipelineMetrics,
  type PipelineObserver,
} from '../index';
import { readFileSource } from '../preprocess/sources';
import type { InputFile } from './files';
import type { CliIo } from './io';
import type { PipelineSettings } from './pipelineOptions';
import { ProgressBar } from './progress';
import { RunStats, type ImageBytes } from './summary';

/** What the commands learn while the pipeline runs, besides the results. */
export interface PipelineHooks {
  /** Called once per image that was prepared, with its byte counts (for the summary). */
  onPrepared?(sizes: ImageBytes): void;
  /** Where the run's metrics go (the `--metrics-port` meter, the `--summary-file` figures). Default: the global meter. */
  readonly metrics?: PipelineMetrics;
  /** Called with every event of `classify` (connection changes, late answers), after the metrics saw it. */
  readonly onEvent?: (event: ClassifyEvent<InputFile>) => void;
}

/**
 * Classifies the files over one `Classify` stream with `classifyImages` (preprocess ->
 * bufferBatch -> classify -> correlate -> retryByErrorCode, one shared in-flight window): one
 * result per file, in the order they finish, each carrying its {@link InputFile} as `ref`.
 * Per-image problems are failure results; the Observable errors only when the whole pipeline
 * fails. After an outage longer than `--give-up-after`, files not yet read come out as
 * `NOT_ATTEMPTED` without being read.
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
  const metrics = hooks.metrics ?? pipelineMetrics({ affiliate: client.affiliate, deploymentId: client.deploymentId });
  return from(inputs).pipe(
    classifyImages<InputFile>(client, {
      // At most `inFlight` images are decoded or unanswered at once, whatever the number of files.
      windowSize: settings.inFlight,
      batch: { maxCount: settings.batchSize },
      classify: { reconnect: { giveUpAfterMs: settings.giveUpAfter } },
      metrics: withEvents(metrics, hooks.onEvent),
      preprocess: {
        ...prepareOptions,
        concurrency: settings.concurrency,
        // Results do not carry the prepared sizes: tap them here for the summary; the image goes on unchanged.
        prepare: (input) =>
          from(prepareFile(input as ImageInput<InputFile>, prepareOptions)).pipe(
            map((prepared) => {
              hooks.onPrepared?.(prepared.sizes);
              return prepared;
            }),
          ),
      },
    }),
    // Answers for another member of a shared deployment are not ours to report.
    filter((event: ClassificationEvent<InputFile>): event is ClassificationResult<InputFile> => event.kind !== 'foreign'),
  );
}

/** `metrics`, with `onEvent` told of every `classify` event too. */
function withEvents(metrics: PipelineMetrics, onEvent: ((event: ClassifyEvent<InputFile>) => void) | undefined): PipelineObserver {
  if (!onEvent) return metrics;
  return {
    correlateStats: metrics.correlateStats,
    tapClassifyEvents: <R>() =>
      pipe(
        metrics.tapClassifyEvents<R>(),
        tap((e: ClassifyEvent<R>) => onEvent(e as ClassifyEvent<InputFile>)),
      ),
    tapResults: <R>() => metrics.tapResults<R>(),
    observeWindow: (w) => metrics.observeWindow(w),
    observeBreaker: (b) => metrics.observeBreaker(b),
    dispose: () => metrics.dispose(),
  };
}

/**
 * `prepareImage`, except that a file whose name is not valid UTF-8 is read here by its bytes (a
 * string path cannot name it) and handed over as a buffer.
 */
async function prepareFile(input: ImageInput<InputFile>, options: Parameters<typeof prepareImage>[1]) {
  const raw = input.ref?.rawPath;
  if (!raw) return prepareImage<InputFile>(input, options);
  const bytes = await readFileSource(raw, undefined, input.ref?.display);
  return prepareImage<InputFile>({ ...input, source: bytes }, options);
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
export function collectResults(
  client: AthenaGrpcClient,
  files: readonly InputFile[],
  settings: PipelineSettings,
  io: CliIo,
): Promise<Collected> {
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
        else stats.addFailure(result.code, `${(result.ref as InputFile).display}: ${result.message}`);
        progress.update(stats.done, stats.failed);
      },
      error: (err: unknown) => finish(err),
      complete: () => finish(),
    });
  });
}
