import { intFlag, stringFlag, type Flags, type OptionSpec } from './args';
import {
  DEFAULT_BROTLI_QUALITY,
  DEFAULT_MAX_BATCH_COUNT,
  DEFAULT_WINDOW,
  defaultConcurrency,
  type ClassifyImagesOptions,
  type PrepareOptions,
} from '../index';
import { UsageError } from './io';

/** The forms of `--wire`, as `PrepareOptions.encoding` names them. */
const WIRES = { raw: 'uncompressed', brotli: 'brotli', png: 'png' } as const;
type Wire = keyof typeof WIRES;

/**
 * The CLI's wire when neither `--wire` nor `--brotli-quality` is given, chosen by measurement on
 * the photo corpus (docs/performance.md, "The CLI's wire").
 */
export const DEFAULT_WIRE: Wire = 'raw';

/** The forms of `--decode-thread`, as `PrepareOptions.decodeThread` names them. */
const DECODE_THREADS = ['current', 'worker'] as const;
type DecodeThread = (typeof DECODE_THREADS)[number];

/**
 * The CLI's `--decode-thread` when not given, chosen by measurement on the photo corpus
 * (docs/performance.md, "Decoding on a worker thread").
 */
export const DEFAULT_DECODE_THREAD: DecodeThread = 'current';

/** How images are prepared: shared by `classify`, `single` and `e2e`. */
export const PREPARE_OPTIONS = {
  wire: { type: 'string' },
  'decode-thread': { type: 'string' },
  'brotli-quality': { type: 'string' },
  hashes: { type: 'string' },
} as const satisfies OptionSpec;

/** How the stream is driven: shared by `classify` and `e2e`. */
export const PIPELINE_OPTIONS = {
  ...PREPARE_OPTIONS,
  'batch-size': { type: 'string' },
  concurrency: { type: 'string' },
  'in-flight': { type: 'string' },
  'give-up-after': { type: 'string' },
} as const satisfies OptionSpec;

/** Default of `--give-up-after`, seconds: the library's outage budget. */
const DEFAULT_GIVE_UP_AFTER_S = 60;

// The CLI's defaults are the library's: Brotli quality (the CLI compresses by default, the library
// only when asked), batch size, and classifyImages' window.

export const PREPARE_HELP = `preparation:
  --wire FORM             how the pixels travel: raw, brotli or png (lossless; default ${DEFAULT_WIRE})
  --brotli-quality Q      Brotli quality 0-11 for --wire brotli, 0 sends the pixels raw (default ${DEFAULT_BROTLI_QUALITY};
                          given alone, it implies --wire brotli)
  --hashes LIST           hashes of the file to send: md5,sha1 (default), md5, sha1 or none
  --decode-thread WHERE   where images are decoded and resized: current (this thread) or worker
                          (a worker thread, out of this thread's heap; default ${DEFAULT_DECODE_THREAD})`;

export const PIPELINE_HELP = `${PREPARE_HELP}
  --concurrency N         images prepared at once (default: the number of CPUs + 2)
pipeline:
  --batch-size N          images per request, 1-50 (default ${DEFAULT_MAX_BATCH_COUNT})
  --in-flight N           images alive between preparing and their result, the window (default ${DEFAULT_WINDOW})
  --give-up-after S       seconds an outage may last before the run gives up: then images sent
                          fail once each and those not yet read are NOT_ATTEMPTED (default 60)`;

export type WireHash = 'md5' | 'sha1';

export interface PrepareSettings {
  readonly encoding: 'uncompressed' | 'brotli' | 'png';
  readonly brotliQuality: number;
  readonly hashes: readonly WireHash[];
  readonly decodeThread: DecodeThread;
}

export interface PipelineSettings extends PrepareSettings {
  readonly batchSize: number;
  readonly concurrency: number;
  readonly inFlight: number;
  /** The outage budget, ms (`--give-up-after`). */
  readonly giveUpAfter: number;
}

/**
 * The wire from `--wire` and `--brotli-quality`: `--brotli-quality` alone keeps its old meaning
 * (0 raw, else Brotli at that quality); with `--wire`, it must agree.
 */
function resolveWire(flags: Flags): { encoding: PrepareSettings['encoding']; brotliQuality: number } {
  const given = intFlag(flags, 'brotli-quality', { min: 0, max: 11 });
  const text = stringFlag(flags, 'wire');
  if (text !== undefined && !Object.hasOwn(WIRES, text)) throw new UsageError(`--wire takes raw, brotli or png; got '${text}'`);
  const wire: Wire = (text as Wire | undefined) ?? (given === undefined ? DEFAULT_WIRE : given === 0 ? 'raw' : 'brotli');
  if (given !== undefined && (wire === 'brotli') !== given > 0) {
    throw new UsageError(
      wire === 'brotli'
        ? '--brotli-quality 0 sends the pixels raw: give --wire raw'
        : `--brotli-quality applies to --wire brotli, not --wire ${wire}`,
    );
  }
  return { encoding: WIRES[wire], brotliQuality: given || DEFAULT_BROTLI_QUALITY };
}

/** Reads `--wire`, `--brotli-quality` and `--hashes`. */
export function resolvePrepare(flags: Flags): PrepareSettings {
  const rawHashes = stringFlag(flags, 'hashes');
  let hashes: WireHash[] = ['md5', 'sha1'];
  if (rawHashes !== undefined) {
    const words = rawHashes
      .split(',')
      .map((w) => w.trim().toLowerCase())
      .filter((w) => w !== '');
    if (words.length === 1 && words[0] === 'none') hashes = [];
    else {
      for (const w of words)
        if (w !== 'md5' && w !== 'sha1') throw new UsageError(`--hashes takes md5, sha1 (comma separated) or none; got '${w}'`);
      hashes = [...new Set(words as WireHash[])];
    }
  }
  const decodeThread = stringFlag(flags, 'decode-thread') ?? DEFAULT_DECODE_THREAD;
  if (!(DECODE_THREADS as readonly string[]).includes(decodeThread))
    throw new UsageError(`--decode-thread takes current or worker; got '${decodeThread}'`);
  return { ...resolveWire(flags), hashes, decodeThread: decodeThread as DecodeThread };
}

/** How the settings prepare an image, as `prepareImage` and `preprocess` take it. */
export function prepareOptionsOf(settings: PrepareSettings, affiliate: string | undefined): PrepareOptions {
  return {
    encoding: settings.encoding,
    brotliQuality: settings.encoding === 'brotli' ? settings.brotliQuality : undefined,
    hashes: settings.hashes,
    affiliate,
    decodeThread: settings.decodeThread,
  };
}

/**
 * The settings as `classifyImages` options: the window, batches, the outage budget (when there is
 * one) and preparation. The one mapping of the pipeline flags, for `classify`, `e2e` and `worker`.
 */
export function classifyImagesOptions<R>(
  settings: PipelineSettings | WorkerPipelineSettings,
  affiliate: string | undefined,
): ClassifyImagesOptions<R> & { readonly preprocess: PrepareOptions } {
  return {
    // At most `inFlight` images are decoded or unanswered at once, whatever the number of inputs.
    windowSize: settings.inFlight,
    batch: { maxCount: settings.batchSize },
    ...(settings.giveUpAfter !== undefined ? { classify: { reconnect: { giveUpAfterMs: settings.giveUpAfter } } } : {}),
    preprocess: { ...prepareOptionsOf(settings, affiliate), concurrency: settings.concurrency },
  };
}

/** {@link PipelineSettings} of a command with no outage budget by default (`worker`). */
export interface WorkerPipelineSettings extends Omit<PipelineSettings, 'giveUpAfter'> {
  /** The outage budget, ms, when `--give-up-after` was given. */
  readonly giveUpAfter: number | undefined;
}

/** Reads every pipeline flag, checking ranges so that mistakes stop before any work. */
export function resolvePipeline(flags: Flags): PipelineSettings {
  const settings = resolveWorkerPipeline(flags);
  return { ...settings, giveUpAfter: settings.giveUpAfter ?? DEFAULT_GIVE_UP_AFTER_S * 1000 };
}

/** {@link resolvePipeline}, with no outage budget unless `--give-up-after` is given. */
export function resolveWorkerPipeline(flags: Flags): WorkerPipelineSettings {
  const batchSize = intFlag(flags, 'batch-size', { min: 1, max: 50 }) ?? DEFAULT_MAX_BATCH_COUNT;
  const concurrency = intFlag(flags, 'concurrency', { min: 1, max: 256 }) ?? defaultConcurrency();
  const inFlight = intFlag(flags, 'in-flight', { min: 1, max: 100_000 }) ?? DEFAULT_WINDOW;
  if (inFlight < batchSize) {
    throw new UsageError(
      `--in-flight (${inFlight}) must be at least --batch-size (${batchSize}), otherwise no batch ever fills and each waits for its timer`,
    );
  }
  const seconds = intFlag(flags, 'give-up-after', { min: 1, max: 86_400 });
  const giveUpAfter = seconds === undefined ? undefined : seconds * 1000;
  return { ...resolvePrepare(flags), batchSize, concurrency, inFlight, giveUpAfter };
}
