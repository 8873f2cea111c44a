import type { Subscription } from 'rxjs';
import { boolFlag, choiceFlag, intFlag, parseCommandArgs, stringFlag, withHelp } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, resolveConnection } from '../connect';
import { describeCallError } from '../errors';
import { findInputs, type FoundInputs, type InputFile } from '../files';
import { EXIT, UsageError, type CliIo, type Command } from '../io';
import { createWriter, FORMATS, OutputError, terminalSafe, toRecord } from '../output';
import { openOutput, planOutput, reportMissing } from '../outputFile';
import { runPipeline } from '../pipeline';
import { OutageLog } from '../outageLog';
import type { ClassifyEvent } from '../../index';
import type { ImageBytes } from '../summary';
import { PIPELINE_HELP, PIPELINE_OPTIONS, resolvePipeline } from '../pipelineOptions';
import { ProgressBar } from '../progress';
import { samplesDir, withSampleNames } from '../samples';
import { renderSkipped, renderSummary, RunStats } from '../summary';
import { pipelineMetrics } from '../../metrics/index';
import { METRICS_HELP, METRICS_OPTIONS, pollBacklog, resolveMetrics, startMetricsEndpoint, type MetricsEndpoint } from '../metricsEndpoint';
import { preflight } from '../preflight';
import { checkSummaryFile, RunRecord, type RunStatus } from '../summaryFile';

const HELP = `usage: athena-rx classify <files, folders or globs...> [options]
       athena-rx classify --samples [files...] [options]

Classifies images and prints one result per image as it arrives. Folders are walked
recursively for image files (jpg jpeg png gif bmp dib webp tif tiff pbm pgm ppm pxm pnm pfm
sr ras hdr pic, any case); quote a glob ('photos/**/*.jpg') to have it expanded here.

input:
  --samples               also classify the sample images shipped with the package (the demo;
                          works from any folder)

output:
  --format FORMAT         table (default, for people), jsonl, csv or json
  --output FILE           write results to FILE instead of stdout (a FILE that already
                          holds results is refused unless --resume or --force is given)
  --resume                go on from FILE: inputs with a final result in it are skipped,
                          the others (no result, or a service failure) classified and added
  --force                 replace a FILE that already holds results
  --top N                 labels per image in the table (default 3)
  --verbose               list the files skipped in folders (not images by name)
  --summary-file FILE     write the run's figures as JSON to FILE at the end (batch jobs)

${PIPELINE_HELP}

${CONNECTION_HELP}

${METRICS_HELP}

Before reading any image the service is checked (a token, then ListDeployments): when it cannot
be used, one message says why and what to do, and nothing is read or sent.
A progress line is drawn on stderr when it is a terminal; a summary follows at the end.
Exit status: 0 all images classified, 1 any failed, 2 bad usage or configuration,
3 the service could not be used (unreachable, TLS mismatch, untrusted certificate, refused credential).
`;

export const classify: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS,
    ...PIPELINE_OPTIONS,
    ...METRICS_OPTIONS,
    'summary-file': { type: 'string' },
    format: { type: 'string' },
    output: { type: 'string' },
    resume: { type: 'boolean' },
    force: { type: 'boolean' },
    top: { type: 'string' },
    verbose: { type: 'boolean' },
    samples: { type: 'boolean' },
  });
  // Everything that can be wrong with the command line is checked before any work starts.
  const top = intFlag(flags, 'top', { min: 1, max: 100 }) ?? 3;
  const settings = resolvePipeline(flags);
  const config = resolveConnection(flags, io.env);
  const outputName = stringFlag(flags, 'output');
  const plan = planOutput({
    output: outputName,
    format: choiceFlag(flags, 'format', FORMATS),
    resume: boolFlag(flags, 'resume'),
    force: boolFlag(flags, 'force'),
    cwd: io.cwd,
  });
  const format = plan.format;
  const found = await inputFiles(positionals, boolFlag(flags, 'samples'), io.cwd);
  // --resume: inputs that already have a final result are not classified again.
  const files = found.files.filter((f) => !plan.done.has(f.display));
  const resumed = found.files.length - files.length;
  const keptFailures = plan.kept.filter((r) => r.outcome === 'failure' && found.files.some((f) => f.display === r.file)).length;
  // Unreadable folders are failure lines of their own; every other input still classifies.
  const total = files.length + found.problems.length;
  const metricsAt = resolveMetrics(flags);
  const summaryPath = checkSummaryFile(stringFlag(flags, 'summary-file'), io.cwd);
  const output = openOutput(plan, io.stdout, outputName);
  const sink = output.sink;

  const startedAt = performance.now();
  const endpoint: MetricsEndpoint | undefined = metricsAt ? await startMetricsEndpoint(metricsAt) : undefined;
  if (endpoint) io.stderr.write(`metrics for Prometheus at ${endpoint.url}\n`);
  const connection = await connect(config, io);
  const stats = new RunStats();
  const metrics = pipelineMetrics({ meter: endpoint?.meter, affiliate: connection.client.affiliate, deploymentId: connection.client.deploymentId });
  const run = new RunRecord({ summaryPath, address: connection.address, total, stats, metrics, endpoint });
  let stopPolling: (() => void) | undefined;
  const finish = (status: RunStatus, exitStatus: number, notAttempted: number, message?: string): Promise<number> => {
    stopPolling?.();
    return run.end(status, exitStatus, notAttempted, message);
  };

  // Fail fast and say it once: no image is read while the service cannot be used at all.
  const problem = await preflight(connection, config, io, { token: connection.token });
  if (problem !== undefined) {
    await connection.close();
    sink.close();
    output.lostFile(); // a resume's new file, not yet in place, is removed
    io.stderr.write(`athena-rx classify: ${problem}\n`);
    io.stderr.write(`nothing was read or sent: ${total} ${total === 1 ? 'image' : 'images'} not attempted\n`);
    return finish('unavailable', EXIT.unavailable, total, problem);
  }
  // Deployment backlogs for the gauge, only when someone scrapes.
  if (endpoint) stopPolling = pollBacklog(connection.client, metrics);

  const progress = new ProgressBar(io.stderr, total);
  const writer = createWriter(format, sink, { top, fileWidth: Math.max(...[...files, ...found.problems].map((f) => terminalSafe(f.display).length)) });
  let pipelineError: unknown;
  let outputError: OutputError | undefined;
  let interrupted = false;
  const answered = new Set<InputFile>();
  const notAttemptedFiles: string[] = [];
  try {
    progress.clear(); // the header must not land on the progress line
    writer.begin();
    for (const record of plan.kept) writer.write(record);
    output.commit();
    for (const problem of found.problems) {
      writer.write({ file: problem.display, correlationId: '', outcome: 'failure', labels: {}, errorCode: problem.code, errorMessage: problem.message, attempts: 0 });
      stats.addFailure(problem.code, `${problem.display}: ${problem.message}`);
    }
    await new Promise<void>((done) => {
      let subscription: Subscription | undefined = undefined;
      // Ctrl-C stops sending and keeps what was written; the summary still says how far it got.
      const onSignal = (): void => {
        interrupted = true;
        subscription?.unsubscribe();
        done();
      };
      const stop = watchInterrupts(io, onSignal);
      const outage = new OutageLog((line) => {
        progress.clear();
        io.stderr.write(`athena-rx classify: ${terminalSafe(line)}\n`);
      }, connection.address, settings.giveUpAfter);
      const hooks = { onPrepared: (sizes: ImageBytes) => stats.addBytes(sizes), metrics, onEvent: (e: ClassifyEvent<InputFile>) => outage.onEvent(e) };
      subscription = runPipeline(connection.client, files, settings, hooks).subscribe({
        next: (result) => {
          const file = result.ref as InputFile;
          progress.clear();
          // Inputs left unread after an outage are counted; the table does not list them one by one.
          const shown = result.kind === 'success' || result.code !== 'NOT_ATTEMPTED' || format !== 'table';
          try {
            if (shown) writer.write(toRecord(result, file.display));
          } catch (err) {
            // A full disk or a broken output: stop, and count only what was written.
            if (!(err instanceof OutputError)) throw err;
            outputError = err;
            subscription?.unsubscribe();
            stop();
            done();
            return;
          }
          answered.add(file);
          if (result.kind === 'failure' && (result.code as string) === 'NOT_ATTEMPTED') notAttemptedFiles.push(file.display);
          if (result.kind === 'success') stats.addSuccess();
          else stats.addFailure(result.code, `${file.display}: ${result.message}`);
          progress.update(stats.done, stats.failed);
        },
        error: (err: unknown) => {
          pipelineError = err;
          stop();
          done();
        },
        complete: () => {
          stop();
          done();
        },
      });
      if (interrupted) subscription.unsubscribe();
    });
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    outputError ??= err;
  } finally {
    progress.stop();
    try {
      if (!outputError) writer.end();
    } catch (err) {
      // Only the sink throws here (writing the closing bracket): an output error like the others.
      outputError = err instanceof OutputError ? err : new OutputError(String(err));
    }
    sink.close();
    await connection.close();
  }

  // What was written to the stream, not what was prepared: images prepared and never sent cost nothing.
  stats.bytes.wire = metrics.snapshot().bytes.sent;
  io.stderr.write(renderSummary(stats, performance.now() - startedAt) + '\n');
  if (resumed > 0 || plan.unreadable > 0) {
    io.stderr.write(
      `resumed: ${resumed} ${resumed === 1 ? 'input' : 'inputs'} already had a final result in ${outputName}` +
        `${keptFailures > 0 ? ` (${keptFailures} of them failed)` : ''}` +
        `${plan.unreadable > 0 ? ` (${plan.unreadable} unreadable ${plan.unreadable === 1 ? 'line' : 'lines'} of it dropped)` : ''}\n`,
    );
  }
  if (found.skipped.length > 0) io.stderr.write(renderSkipped(found.skipped, boolFlag(flags, 'verbose')) + '\n');
  if (pipelineError !== undefined) {
    io.stderr.write(`athena-rx classify: the pipeline failed: ${terminalSafe(describeCallError(pipelineError, connection.address))}\n`);
  }
  const lost = output.lostFile();
  if (outputError) io.stderr.write(`athena-rx classify: ${terminalSafe(outputError.message)}; ${stats.done} results were written before it, the rest not\n`);
  if (lost) io.stderr.write(`athena-rx classify: ${terminalSafe(lost)}\n`);
  const missing = files.filter((f) => !answered.has(f)).map((f) => f.display);
  // Which inputs got no result, not only how many (listed in <output>.missing with --output).
  io.stderr.write(reportMissing([...missing, ...notAttemptedFiles], total, interrupted, plan.path));
  const notAttempted = notAttemptedFiles.length + missing.length;
  // The exit status speaks for the whole output: failures kept from the run resumed count too.
  const failed = stats.failed > 0 || keptFailures > 0 || missing.length > 0 || outputError !== undefined || lost !== undefined;
  return finish(interrupted ? 'interrupted' : failed ? 'failed' : 'ok', failed ? EXIT.failed : EXIT.ok, notAttempted);
});

/** The operands' files, and the bundled samples with `--samples`. */
async function inputFiles(positionals: string[], useSamples: boolean, cwd: string): Promise<FoundInputs> {
  if (!useSamples && positionals.length === 0) throw new UsageError('give at least one image file, folder or glob (or --samples for the bundled sample images)');
  if (!useSamples) {
    return findInputs(positionals, cwd).catch((err: unknown) => {
      // `classify samples/` outside a clone: the demo's folder is inside the installed package.
      if (err instanceof UsageError && positionals.some((p) => /^\.?\/?samples\/?$/.test(p)) && /^no such file or folder: '\.?\/?samples\/?'/.test(err.message)) {
        throw new UsageError(`${err.message}; for the sample images shipped with the package use --samples`);
      }
      throw err;
    });
  }
  const found = await findInputs([...positionals, samplesDir()], cwd);
  return { ...found, files: withSampleNames(found.files) };
}

/**
 * Calls `onInterrupt` on SIGINT/SIGTERM or when stdout's reader goes away (`| head`), for
 * the real process only: in-process callers (tests) pass their own streams and get no
 * process-wide listeners. Returns the function that removes the listeners.
 *
 * A signal always ends the run: the first lets it write its summary; a second one, or the run
 * still alive 5 s after the first (a read stuck in the kernel holds the event loop), ends the
 * process at once.
 */
function watchInterrupts(io: CliIo, onInterrupt: () => void): () => void {
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') onInterrupt();
  };
  io.stdout.on('error', onError);
  const real = io.stdout === process.stdout;
  const onSignal = (signal: NodeJS.Signals): void => {
    const status = 128 + (signal === 'SIGINT' ? 2 : 15);
    const force = (): never => process.exit(process.exitCode ?? status);
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    // unref: the timer never keeps the process alive; it fires only if something else does.
    setTimeout(force, FORCED_EXIT_MS).unref();
    onInterrupt();
  };
  if (real) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return () => {
    io.stdout.off('error', onError);
    if (real) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}

/** How long an interrupted run may take to wind down before the process is ended regardless. */
const FORCED_EXIT_MS = 5_000;
