import { resolve } from 'node:path';
import { boolFlag, choiceFlag, intFlag, parseCommandArgs, stringFlag, type Flags } from '../args';
import { CONNECTION_OPTIONS, resolveConnection, type ConnectionConfig } from '../connect';
import { findInputs, type FoundInputs, type InputFile } from '../files';
import { UsageError, type CliIo } from '../io';
import { FORMATS, terminalSafe } from '../output';
import { planOutput, type OutputPlan } from '../outputFile';
import { PIPELINE_OPTIONS, resolvePipeline, type PipelineSettings } from '../pipelineOptions';
import { isSampleFile, samplesDir, withSampleNames } from '../samples';
import { METRICS_OPTIONS, resolveMetrics, resolveMetricsTextfile } from '../metricsEndpoint';
import { checkSummaryFile } from '../summaryFile';

// `athena-rx classify`'s plan: the command line read and checked, the output planned (and locked)
// and the inputs found, before anything is contacted. The run itself is in classify.ts.

/** The command line, read and checked: what to classify, where results go, how to connect. */
export interface RunPlan {
  readonly top: number;
  readonly verbose: boolean;
  readonly settings: PipelineSettings;
  readonly config: ConnectionConfig;
  /** `--output` as given (undefined for stdout), and where results go, decided. */
  readonly outputName: string | undefined;
  readonly output: OutputPlan;
  readonly found: FoundInputs;
  /** The files to classify: those found, less those `--resume` finds with a final result. */
  readonly files: InputFile[];
  /** Inputs `--resume` skips, and how many of them failed in the run resumed. */
  readonly resumed: number;
  readonly keptFailures: number;
  /** Results this run owes: the files and the unreadable folders. */
  readonly total: number;
  readonly metricsAt: { port: number; host: string } | undefined;
  readonly metricsTextfile: string | undefined;
  readonly summaryPath: string | undefined;
}

/** Everything that can be wrong with the command line is checked before any work starts. */
export async function planRun(args: string[], io: CliIo): Promise<RunPlan> {
  const { flags, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS,
    ...PIPELINE_OPTIONS,
    ...METRICS_OPTIONS,
    'summary-file': { type: 'string' },
    'metrics-textfile': { type: 'string' },
    format: { type: 'string' },
    output: { type: 'string' },
    resume: { type: 'boolean' },
    force: { type: 'boolean' },
    top: { type: 'string' },
    verbose: { type: 'boolean' },
    samples: { type: 'boolean' },
  });
  const top = intFlag(flags, 'top', { min: 1, max: 100 }) ?? 3;
  const settings = resolvePipeline(flags);
  const config = resolveConnection(flags, io.env);
  const outputName = stringFlag(flags, 'output');
  const output = planOutput({
    output: outputName,
    format: choiceFlag(flags, 'format', FORMATS),
    resume: boolFlag(flags, 'resume'),
    force: boolFlag(flags, 'force'),
    cwd: io.cwd,
    notice: (line) => io.stderr.write(`athena-rx classify: ${terminalSafe(line)}\n`),
  });
  try {
    return await planInputs(flags, positionals, io, { top, settings, config, outputName, output });
  } catch (err) {
    output.lock?.release();
    throw err;
  }
}

/** The rest of {@link planRun}, once the output is planned (and locked). */
async function planInputs(
  flags: Flags,
  positionals: string[],
  io: CliIo,
  planned: Pick<RunPlan, 'top' | 'settings' | 'config' | 'outputName' | 'output'>,
): Promise<RunPlan> {
  const { top, settings, config, outputName, output } = planned;
  const found = await inputFiles(positionals, boolFlag(flags, 'samples'), io.cwd);
  // --resume: inputs that already have a final result are not classified again.
  const files = found.files.filter((f) => !output.done.has(f.display));
  const keptFailures = output.kept.filter((r) => r.outcome === 'failure' && found.files.some((f) => f.display === r.file)).length;
  return {
    top,
    verbose: boolFlag(flags, 'verbose'),
    settings,
    config,
    outputName,
    output,
    found,
    files,
    resumed: found.files.length - files.length,
    keptFailures,
    // Unreadable folders are failure lines of their own; every other input still classifies.
    total: files.length + found.problems.length,
    metricsAt: resolveMetrics(flags),
    metricsTextfile: resolveMetricsTextfile(flags, io.cwd),
    summaryPath: checkSummaryFile(stringFlag(flags, 'summary-file'), io.cwd),
  };
}

/** The operands' files, and the bundled samples with `--samples`. */
async function inputFiles(positionals: string[], useSamples: boolean, cwd: string): Promise<FoundInputs> {
  if (!useSamples && positionals.length === 0)
    throw new UsageError('give at least one image file, folder or glob (or --samples for the bundled sample images)');
  if (!useSamples) {
    return findInputs(positionals, cwd).catch((err: unknown) => {
      // `classify samples/` outside a clone: the demo's folder is inside the installed package.
      if (
        err instanceof UsageError &&
        positionals.some((p) => /^\.?\/?samples\/?$/.test(p)) &&
        /^no such file or folder: '\.?\/?samples\/?'/.test(err.message)
      ) {
        throw new UsageError(`${err.message}; for the sample images shipped with the package use --samples`);
      }
      throw err;
    });
  }
  const dir = samplesDir();
  const found = await findInputs([...positionals, dir], cwd);
  // The package's own files beside the samples (its LICENSE.md) are not the user's to be told of.
  const skipped = found.skipped.filter((s) => !isSampleFile(resolve(cwd, s.display), dir));
  return { ...found, files: withSampleNames(found.files, dir), skipped };
}
