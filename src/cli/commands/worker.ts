import { resolve } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import { pipelineMetrics } from '../../metrics/index';
import { DEFAULT_CLAIM_IDLE, DEFAULT_MAX_DELIVERIES, DEFAULT_MAX_INLINE_BYTES, redisWorker, type WorkerEvent } from '../../redis/index';
import { boolFlag, intFlag, parseCommandArgs, stringFlag, withHelp, type Flags, type OptionSpec } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, resolveConnection } from '../connect';
import { describeCallError } from '../errors';
import { preflight } from '../preflight';
import { METRICS_HELP, METRICS_OPTIONS, resolveMetrics, startMetricsEndpoint, type MetricsEndpoint } from '../metricsEndpoint';
import { EXIT, UsageError, type CliIo, type Command } from '../io';
import { PIPELINE_HELP, PIPELINE_OPTIONS, resolvePipeline } from '../pipelineOptions';
import { formatDuration, rate } from '../progress';
import { REDIS_HELP, REDIS_OPTIONS, openRedis, resolveRedis } from '../redis';
import { renderSummary, RunStats } from '../summary';

const HELP = `usage: athena-rx worker --stream NAME [options]

Classifies the jobs of a Redis stream until SIGINT/SIGTERM, as one consumer of a group: start as
many workers as you like, on as many machines, with the same --stream and --group. For each job
one result entry goes to the results stream, written and acknowledged in one atomic step. On
SIGINT/SIGTERM the worker stops reading, finishes and writes back what it holds, and exits 0
(a second signal exits at once; its jobs are claimed by the other workers). See docs/scaling-out.md.

${REDIS_HELP}
  --group NAME            the consumer group, created when missing (default athena-rx)
  --consumer NAME         this worker's name in the group, unique per live worker
                          (default <hostname>-<pid>)
  --results NAME          where results go (default <stream>:results)
  --dead-letter NAME      where poison jobs go (default <stream>:dead)
  --claim-idle MS         take over jobs a dead worker left pending this long (default ${DEFAULT_CLAIM_IDLE})
  --max-deliveries N      deliveries without a result before a job is dead-lettered (default ${DEFAULT_MAX_DELIVERIES})
  --root DIR              resolve relative job paths here, and refuse paths outside it
  --max-inline-bytes N    largest inline image of a job (default ${DEFAULT_MAX_INLINE_BYTES})
  --drain                 exit once the stream has no new job and nothing is in flight

${PIPELINE_HELP}
  (--in-flight is also how many jobs this worker holds at once)

${METRICS_HELP}

${CONNECTION_HELP}
  Each worker classifies over a deployment of its own; --deployment-id names it (give every
  worker its own), so that a restarted worker rejoins it.

A status line is drawn on stderr when it is a terminal; a summary follows at the end.
Exit status: 0 stopped by a signal or --drain, 1 the service or Redis failed for good, 2 bad usage,
3 the service could not be used at all at start (no job was read).
`;

export const worker: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, {
    ...REDIS_OPTIONS,
    ...CONNECTION_OPTIONS,
    ...PIPELINE_OPTIONS,
    ...METRICS_OPTIONS,
    ...WORKER_OPTIONS,
  });
  if (positionals.length > 0) {
    throw new UsageError(
      `unexpected argument '${positionals[0]}': the worker takes its images from the stream (athena-rx enqueue adds them)`,
    );
  }
  // Everything that can be wrong with the command line is checked before connecting to anything.
  const { url, stream } = resolveRedis(flags, io.env);
  const settings = resolvePipeline(flags);
  const config = resolveConnection(flags, io.env);
  const metricsAt = resolveMetrics(flags);
  const queue = resolveQueue(flags, io.cwd);

  const endpoint: MetricsEndpoint | undefined = metricsAt ? await startMetricsEndpoint(metricsAt) : undefined;
  if (endpoint) io.stderr.write(`metrics for Prometheus at ${endpoint.url}\n`);
  const { redis, url: shownUrl, close: closeRedis } = openRedis(url, io, 'athena-rx worker', { wait: true });
  const connection = await connect(config, io).catch(async (err: unknown) => {
    closeRedis();
    await endpoint?.stop();
    throw err;
  });
  // Say it once and read nothing when the service cannot be used at all: jobs read now would
  // only wait in this worker's pending list until another worker claims them.
  const problem = await preflight(connection, config, io, { token: connection.token });
  if (problem !== undefined) {
    closeRedis();
    await connection.close();
    await endpoint?.stop();
    io.stderr.write(`athena-rx worker: ${problem}\nno job was read\n`);
    return EXIT.unavailable;
  }
  const { client } = connection;
  const metrics = pipelineMetrics({ meter: endpoint?.meter, affiliate: client.affiliate, deploymentId: client.deploymentId });
  const stats = new RunStats();
  const counts = { released: 0, deadLettered: 0, superseded: 0 };
  const status = new StatusLine(io.stderr);
  const startedAt = performance.now();

  io.stderr.write(`worker ${queue.consumer ?? '(default name)'}: ${stream} on ${shownUrl}, group ${queue.group}\n`);
  const pipeline = {
    batch: { maxCount: settings.batchSize },
    classify: { reconnect: { giveUpAfterMs: settings.giveUpAfter } },
    preprocess: {
      encoding: settings.encoding,
      brotliQuality: settings.encoding === 'brotli' ? settings.brotliQuality : undefined,
      hashes: settings.hashes,
      affiliate: client.affiliate,
      concurrency: settings.concurrency,
    },
  };
  const { failure, abandoned } = await runUntilStopped(
    io,
    status,
    (until) => redisWorker(redis, client, { stream, ...queue, window: settings.inFlight, until, metrics, pipeline }),
    (event) => {
      count(event, stats, counts);
      status.update(stats, counts.released, performance.now() - startedAt);
    },
  );
  status.clear();
  closeRedis();
  await connection.close();
  metrics.dispose();
  await endpoint?.stop();

  io.stderr.write(renderSummary(stats, performance.now() - startedAt) + '\n');
  const extra = [
    counts.released > 0 ? `${counts.released} released for another delivery` : '',
    counts.deadLettered > 0 ? `${counts.deadLettered} dead-lettered` : '',
    counts.superseded > 0 ? `${counts.superseded} written first by another worker` : '',
  ].filter((s) => s !== '');
  if (extra.length > 0) io.stderr.write(`jobs: ${extra.join(', ')}\n`);
  if (failure !== undefined) {
    io.stderr.write(
      `athena-rx worker: stopped: ${describeCallError(failure, connection.address)}; its jobs stay pending for the other workers\n`,
    );
    return EXIT.failed;
  }
  if (abandoned) {
    io.stderr.write('athena-rx worker: left at once; the jobs in flight stay pending and are claimed by other workers\n');
    return EXIT.failed;
  }
  return EXIT.ok;
});

const WORKER_OPTIONS = {
  group: { type: 'string' },
  consumer: { type: 'string' },
  results: { type: 'string' },
  'dead-letter': { type: 'string' },
  'claim-idle': { type: 'string' },
  'max-deliveries': { type: 'string' },
  root: { type: 'string' },
  'max-inline-bytes': { type: 'string' },
  drain: { type: 'boolean' },
} as const satisfies OptionSpec;

/** The worker's own flags, as `redisWorker` options. */
function resolveQueue(flags: Flags, cwd: string) {
  const names = Object.fromEntries(
    (['group', 'consumer', 'results', 'dead-letter'] as const).map((n) => {
      const v = stringFlag(flags, n);
      if (v === '') throw new UsageError(`--${n} must not be empty`);
      return [n, v];
    }),
  );
  const root = stringFlag(flags, 'root');
  return {
    group: names.group ?? 'athena-rx',
    consumer: names.consumer,
    results: names.results,
    deadLetter: names['dead-letter'],
    claimIdle: intFlag(flags, 'claim-idle', { min: 10, max: 86_400_000 }) ?? DEFAULT_CLAIM_IDLE,
    maxDeliveries: intFlag(flags, 'max-deliveries', { min: 1, max: 1000 }),
    maxInlineBytes: intFlag(flags, 'max-inline-bytes', { min: 1, max: 512 * 1024 * 1024 }),
    root: root === undefined ? undefined : resolve(cwd, root),
    drain: boolFlag(flags, 'drain'),
  };
}

/**
 * Runs the worker until it completes (`--drain`, or after the first SIGINT/SIGTERM once it has
 * written back what it held) or fails; a second signal leaves at once. Signals are watched for
 * the real process only: in-process callers (tests) get no process-wide listeners.
 */
function runUntilStopped(
  io: CliIo,
  status: StatusLine,
  start: (until: Subject<void>) => Observable<WorkerEvent>,
  onEvent: (event: WorkerEvent) => void,
): Promise<{ failure?: unknown; abandoned: boolean }> {
  return new Promise((done) => {
    const stop = new Subject<void>();
    let signals = 0;
    const real = io.stderr === process.stderr;
    const onSignal = (): void => {
      signals++;
      if (signals === 1) {
        status.clear();
        io.stderr.write('stopping: finishing the jobs in flight (signal again to leave them to other workers)\n');
        stop.next();
        return;
      }
      subscription.unsubscribe();
      unlisten();
      done({ abandoned: true });
    };
    const unlisten = (): void => {
      if (!real) return;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    if (real) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const subscription = start(stop).subscribe({
      next: onEvent,
      error: (failure: unknown) => {
        unlisten();
        done({ failure, abandoned: false });
      },
      complete: () => {
        unlisten();
        done({ abandoned: false });
      },
    });
  });
}

function count(event: WorkerEvent, stats: RunStats, counts: { released: number; deadLettered: number; superseded: number }): void {
  switch (event.kind) {
    case 'written':
    case 'dead-lettered': {
      const r = event.result;
      const where = typeof r.fields?.file === 'string' ? r.fields.file : r.job;
      if (r.kind === 'success') stats.addSuccess();
      else stats.addFailure(r.code, `${where}: ${r.message}`);
      if (event.kind === 'dead-lettered') counts.deadLettered++;
      break;
    }
    case 'released':
      counts.released++;
      break;
    case 'superseded':
      counts.superseded++;
      break;
  }
}

/**
 * The worker's live line on a terminal: results so far, failures, rate, time running. A worker
 * has no total, so no bar: `1234 results  3 failed  212 img/s  2 released  0:06`.
 */
class StatusLine {
  private readonly enabled: boolean;
  private shown = '';
  private last = 0;

  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.enabled = stream.isTTY === true;
  }

  update(stats: RunStats, released: number, elapsedMs: number): void {
    if (!this.enabled || elapsedMs - this.last < 100) return;
    this.last = elapsedMs;
    const r = rate(stats.done, elapsedMs);
    const line = `${stats.done} results  ${stats.failed} failed  ${r === undefined ? '-' : r.toFixed(0)} img/s  ${released} released  ${formatDuration(elapsedMs)}`;
    this.stream.write(`\r${line}\x1b[K`);
    this.shown = line;
  }

  clear(): void {
    if (this.shown === '') return;
    this.stream.write('\r\x1b[K');
    this.shown = '';
  }
}
