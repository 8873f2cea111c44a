import type { Subscription } from 'rxjs';
import { withHelp } from '../args';
import { CONNECTION_HELP, connect, type Connection } from '../connect';
import { describeCallError, messageOf } from '../errors';
import { watchInterrupts } from '../interrupts';
import type { InputFile } from '../files';
import { EXIT, type CliIo, type Command } from '../io';
import { createWriter, OutputError, terminalSafe, toRecord, type ResultWriter } from '../output';
import { openOutput, reportMissing, type OpenOutput } from '../outputFile';
import { runPipeline } from '../pipeline';
import { OutageLog } from '../outageLog';
import type { ClassifyEvent } from '../../index';
import type { ImageBytes } from '../summary';
import { PIPELINE_HELP } from '../pipelineOptions';
import { ProgressBar } from '../progress';
import { renderSkipped, renderSummary, RunStats } from '../summary';
import { observeTokens, pipelineMetrics, type PipelineMetrics } from '../../metrics/index';
import type { AccessTokenProvider } from '../../transport/credentials';
import { METRICS_HELP, pollBacklog, startMetricsEndpoint, type MetricsEndpoint } from '../metricsEndpoint';
import { preflight } from '../preflight';
import { RunRecord, type RunStatus } from '../summaryFile';
import { planRun, type RunPlan } from './classifyPlan';

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
  --metrics-textfile F     write the run's metrics in Prometheus text format to F (*.prom) at
                          the end, atomically, for node_exporter's textfile collector (batch jobs)

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
  const plan = await planRun(args, io);
  // The output file is locked from the plan on; the lock goes on every way out.
  try {
    return await runPlanned(plan, io);
  } finally {
    plan.output.lock?.release();
  }
});

/**
 * Runs a checked plan. The output file is opened (truncated, or its resume file created) only once
 * the metrics port, the address and the credentials have passed: a run refused before that leaves
 * it as it was.
 */
async function runPlanned(plan: RunPlan, io: CliIo): Promise<number> {
  // Before the output is opened: a metrics port that is taken exits 2 with nothing touched.
  const { metricsAt, metricsTextfile } = plan;
  const endpoint: MetricsEndpoint | undefined =
    metricsAt || metricsTextfile ? await startMetricsEndpoint({ ...metricsAt, textfile: metricsTextfile }) : undefined;
  const startedAt = performance.now();
  if (endpoint?.url) io.stderr.write(`metrics for Prometheus at ${endpoint.url}\n`);
  const observeToken = endpoint && (<P extends AccessTokenProvider>(p: P) => observeTokens(p, { meter: endpoint.meter }));
  const connection = await connect(plan.config, io, { observeToken }).catch(async (err: unknown) => {
    await endpoint?.stop();
    throw err;
  });
  const stats = new RunStats();
  const metrics = pipelineMetrics({
    meter: endpoint?.meter,
    affiliate: connection.client.affiliate,
    deploymentId: connection.client.deploymentId,
  });
  const run = new RunRecord({ summaryPath: plan.summaryPath, address: connection.address, total: plan.total, stats, metrics, endpoint });
  let stopPolling: (() => void) | undefined;
  const finish = (status: RunStatus, exitStatus: number, notAttempted: number, message?: string): Promise<number> => {
    stopPolling?.();
    return run.end(status, exitStatus, notAttempted, message);
  };

  // Fail fast and say it once: no image is read while the service cannot be used at all.
  const problem = await preflight(connection, plan.config, io, { token: connection.token });
  if (problem !== undefined) {
    const { total } = plan;
    await connection.close();
    io.stderr.write(`athena-rx classify: ${problem}\n`);
    io.stderr.write(`nothing was read or sent: ${total} ${total === 1 ? 'image' : 'images'} not attempted\n`);
    return finish('unavailable', EXIT.unavailable, total, problem);
  }
  // Deployment backlogs for the gauge, only when someone scrapes.
  if (endpoint?.url) stopPolling = pollBacklog(connection.client, metrics);

  let output: OpenOutput;
  try {
    output = openOutput(plan.output, io.stdout, plan.outputName);
  } catch (err) {
    await connection.close();
    await finish('failed', EXIT.usage, plan.total, messageOf(err));
    throw err;
  }
  const ctx: RunContext = { plan, output, connection, stats, metrics, io };
  const outcome = await classifyFiles(ctx);
  const { status, exitStatus, notAttempted } = report(ctx, outcome, startedAt);
  return finish(status, exitStatus, notAttempted);
}

/** What the steps of a run share once the service is known to be usable. */
interface RunContext {
  readonly plan: RunPlan;
  readonly output: OpenOutput;
  readonly connection: Connection;
  readonly stats: RunStats;
  readonly metrics: PipelineMetrics;
  readonly io: CliIo;
}

/** How the classification went, for the report. */
interface RunOutcome {
  pipelineError: unknown;
  outputError: OutputError | undefined;
  interrupted: boolean;
  /** The files that got a result written. */
  readonly answered: Set<InputFile>;
  readonly notAttemptedFiles: string[];
}

/** Writes the kept and the problem records, then every result; closes the output and the connection. */
async function classifyFiles(ctx: RunContext): Promise<RunOutcome> {
  const { plan, output, connection, stats, io } = ctx;
  const { found, files } = plan;
  const progress = new ProgressBar(io.stderr, plan.total);
  const writer = createWriter(plan.output.format, output.sink, {
    top: plan.top,
    fileWidth: Math.max(...[...files, ...found.problems].map((f) => terminalSafe(f.display).length)),
  });
  const outcome: RunOutcome = {
    pipelineError: undefined,
    outputError: undefined,
    interrupted: false,
    answered: new Set(),
    notAttemptedFiles: [],
  };
  try {
    progress.clear(); // the header must not land on the progress line
    writer.begin();
    for (const record of plan.output.kept) writer.write(record);
    output.commit();
    for (const problem of found.problems) {
      writer.write({
        file: problem.display,
        correlationId: '',
        outcome: 'failure',
        labels: {},
        errorCode: problem.code,
        errorMessage: problem.message,
        attempts: 0,
      });
      stats.addFailure(problem.code, `${problem.display}: ${problem.message}`);
    }
    await streamResults(ctx, writer, progress, outcome);
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    outcome.outputError ??= err;
  } finally {
    progress.stop();
    try {
      if (!outcome.outputError) writer.end();
    } catch (err) {
      // Only the sink throws here (writing the closing bracket): an output error like the others.
      outcome.outputError = err instanceof OutputError ? err : new OutputError(String(err));
    }
    output.sink.close();
    await connection.close();
  }
  return outcome;
}

/** Runs the pipeline over the files and writes each result as it comes; settles when the run ends, for whatever reason. */
function streamResults(ctx: RunContext, writer: ResultWriter, progress: ProgressBar, outcome: RunOutcome): Promise<void> {
  const { plan, connection, stats, metrics, io } = ctx;
  const format = plan.output.format;
  return new Promise<void>((done) => {
    let subscription: Subscription | undefined = undefined;
    // Ctrl-C stops sending and keeps what was written; the summary still says how far it got.
    const onSignal = (): void => {
      outcome.interrupted = true;
      subscription?.unsubscribe();
      done();
    };
    const stop = watchInterrupts(io, onSignal);
    const outage = new OutageLog(
      (line) => {
        progress.clear();
        io.stderr.write(`athena-rx classify: ${terminalSafe(line)}\n`);
      },
      connection.address,
      plan.settings.giveUpAfter,
    );
    const hooks = {
      onPrepared: (sizes: ImageBytes) => stats.addBytes(sizes),
      metrics,
      onEvent: (e: ClassifyEvent<InputFile>) => outage.onEvent(e),
    };
    subscription = runPipeline(connection.client, plan.files, plan.settings, hooks).subscribe({
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
          outcome.outputError = err;
          subscription?.unsubscribe();
          stop();
          done();
          return;
        }
        outcome.answered.add(file);
        if (result.kind === 'failure' && (result.code as string) === 'NOT_ATTEMPTED') outcome.notAttemptedFiles.push(file.display);
        if (result.kind === 'success') stats.addSuccess();
        else stats.addFailure(result.code, `${file.display}: ${result.message}`);
        progress.update(stats.done, stats.failed);
      },
      error: (err: unknown) => {
        outcome.pipelineError = err;
        stop();
        done();
      },
      complete: () => {
        stop();
        done();
      },
    });
    if (outcome.interrupted) subscription.unsubscribe();
  });
}

/** Prints the summary and what went wrong; returns how the run ended, for the summary file and the exit status. */
function report(ctx: RunContext, outcome: RunOutcome, startedAt: number): { status: RunStatus; exitStatus: number; notAttempted: number } {
  const { plan, output, connection, stats, metrics, io } = ctx;
  const { resumed, keptFailures, outputName } = plan;
  const { unreadable } = plan.output;
  const { pipelineError, outputError, interrupted } = outcome;
  // What was written to the stream, not what was prepared: images prepared and never sent cost nothing.
  stats.bytes.wire = metrics.snapshot().bytes.sent;
  io.stderr.write(renderSummary(stats, performance.now() - startedAt) + '\n');
  if (resumed > 0 || unreadable > 0) {
    io.stderr.write(
      `resumed: ${resumed} ${resumed === 1 ? 'input' : 'inputs'} already had a final result in ${outputName}` +
        `${keptFailures > 0 ? ` (${keptFailures} of them failed)` : ''}` +
        `${unreadable > 0 ? ` (${unreadable} unreadable ${unreadable === 1 ? 'line' : 'lines'} of it dropped)` : ''}\n`,
    );
  }
  if (plan.found.skipped.length > 0) io.stderr.write(renderSkipped(plan.found.skipped, plan.verbose) + '\n');
  if (pipelineError !== undefined) {
    io.stderr.write(`athena-rx classify: the pipeline failed: ${terminalSafe(describeCallError(pipelineError, connection.address))}\n`);
  }
  const lost = output.lostFile();
  if (outputError)
    io.stderr.write(
      `athena-rx classify: ${terminalSafe(outputError.message)}; ${stats.done} results were written before it, the rest not\n`,
    );
  if (lost) io.stderr.write(`athena-rx classify: ${terminalSafe(lost)}\n`);
  const missing = plan.files.filter((f) => !outcome.answered.has(f)).map((f) => f.display);
  // Which inputs got no result, not only how many (listed in <output>.missing with --output).
  io.stderr.write(reportMissing([...missing, ...outcome.notAttemptedFiles], plan.total, interrupted, plan.output.path));
  const notAttempted = outcome.notAttemptedFiles.length + missing.length;
  // The exit status speaks for the whole output: failures kept from the run resumed count too.
  const failed = stats.failed > 0 || keptFailures > 0 || missing.length > 0 || outputError !== undefined || lost !== undefined;
  return { status: interrupted ? 'interrupted' : failed ? 'failed' : 'ok', exitStatus: failed ? EXIT.failed : EXIT.ok, notAttempted };
}
