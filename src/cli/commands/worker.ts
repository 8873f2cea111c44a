import { resolve } from 'node:path';
import { observeTokens, pipelineMetrics } from '../../metrics/index';
import type { AccessTokenProvider } from '../../transport/credentials';
import {
  DEFAULT_CLAIM_IDLE,
  DEFAULT_MAX_DELIVERIES,
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_MAX_JOB_BYTES,
  redisWorker,
  workerStats,
  type JobRef,
} from '../../redis/index';
import { workerMetrics } from '../../redis/workerMetrics';
import { boolFlag, intFlag, parseCommandArgs, stringFlag, withHelp, type Flags, type OptionSpec } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, resolveConnection } from '../connect';
import { startHealthEndpoint } from '../healthEndpoint';
import { EXIT, UsageError, type Command } from '../io';
import {
  METRICS_HELP,
  METRICS_OPTIONS,
  resolveMetrics,
  resolveMetricsHost,
  startMetricsEndpoint,
  type MetricsEndpoint,
} from '../metricsEndpoint';
import { classifyImagesOptions, PIPELINE_HELP, PIPELINE_OPTIONS, resolveWorkerPipeline } from '../pipelineOptions';
import { preflight } from '../preflight';
import { REDIS_HELP, REDIS_OPTIONS, openRedis, resolveRedis } from '../redis';
import { renderSummary, RunStats } from '../summary';
import { count, finalReport, healthOf, pendingInGroup, runUntilStopped, StatusLine, type WorkerCounts } from '../workerRun';

/** Default of `--shutdown-timeout`, seconds: under Kubernetes' default grace period of 30 s. */
const DEFAULT_SHUTDOWN_TIMEOUT_S = 25;

const HELP = `usage: athena-rx worker --stream NAME (--root DIR | --any-path) [options]

Classifies the jobs of a Redis stream until SIGINT/SIGTERM, as one consumer of a group: start as
many workers as you like, on as many machines, with the same --stream and --group. For each job
one result entry goes to the results stream, written and acknowledged in one atomic step.

When the Athena service is unreachable the worker reads no new job, keeps the ones it holds
pending (an outage spends no delivery), says so once, and goes on when the service answers
again, however long that takes (unless --give-up-after). On SIGINT/SIGTERM it stops reading and
finishes what it holds within --shutdown-timeout; a second signal exits at once. Jobs it could
not finish stay pending and the other workers claim them. See docs/scaling-out.md.

${REDIS_HELP}
  --group NAME            the consumer group, created when missing (default athena-rx)
  --consumer NAME         this worker's name in the group, unique per live worker
                          (default <hostname>-<pid>)
  --results NAME          where results go (default <stream>:results)
  --dead-letter NAME      where poison jobs go (default <stream>:dead)
  --claim-idle MS         take over jobs a dead worker left pending this long (default ${DEFAULT_CLAIM_IDLE})
  --max-deliveries N      deliveries without a result before a job is dead-lettered (default ${DEFAULT_MAX_DELIVERIES})
  --root DIR              resolve relative job paths here, and read no file outside it
                          (symlinks resolved); one of --root and --any-path is required
  --any-path              let jobs name any file this process can read
  --max-job-bytes N       largest job entry, not counting an inline image (default ${DEFAULT_MAX_JOB_BYTES})
  --max-inline-bytes N    largest inline image of a job (default ${DEFAULT_MAX_INLINE_BYTES})
  --shutdown-timeout S    seconds to finish the jobs in flight after SIGTERM (default ${DEFAULT_SHUTDOWN_TIMEOUT_S})
  --drain                 exit once the stream has no new job and nothing is in flight

${PIPELINE_HELP.split('  --give-up-after')[0]}  --give-up-after S       seconds the service may stay unreachable before the worker gives up:
                          it then exits 1 and leaves the jobs it holds pending for other
                          workers (default: it waits however long, reading no new job)
  (--in-flight is also how many jobs this worker holds at once)

${METRICS_HELP}
  --health-port N         serve /livez and /readyz for a supervisor on http://HOST:N
                          (HOST is --metrics-host, default 127.0.0.1)

${CONNECTION_HELP}
  Each worker classifies over a deployment of its own; --deployment-id names it (give every
  worker its own), so that a restarted worker rejoins it.

A status line is drawn on stderr when it is a terminal; a summary follows at the end.
Exit status: 0 stopped by a signal with every job it took written back, or --drain found nothing
left pending in the group; 1 work left undone (jobs left pending: shutdown timeout, Redis gone,
the service given up after --give-up-after, --drain with jobs still pending or released); 2 bad
usage; 3 the service could not be used at all at start (no job was read).
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
  const settings = resolveWorkerPipeline(flags);
  const config = resolveConnection(flags, io.env);
  const healthPort = intFlag(flags, 'health-port', { min: 1, max: 65535 });
  // The health endpoint listens on --metrics-host too: a supervisor probing the pod's address
  // needs it without a metrics port.
  const metricsAt = resolveMetrics(flags, healthPort !== undefined);
  const healthHost = resolveMetricsHost(flags);
  const queue = resolveQueue(flags, io.cwd, stream);

  const endpoint: MetricsEndpoint | undefined = metricsAt ? await startMetricsEndpoint(metricsAt) : undefined;
  if (endpoint) io.stderr.write(`metrics for Prometheus at ${endpoint.url}\n`);
  const stats = workerStats();
  const redisState = { down: false, stopping: false };
  const health =
    healthPort === undefined
      ? undefined
      : await startHealthEndpoint({ port: healthPort, host: healthHost }, () => healthOf(stats, redisState)).catch(async (err: unknown) => {
          await endpoint?.stop();
          throw err;
        });
  if (health) io.stderr.write(`health for a supervisor at ${health.url}/livez and /readyz\n`);
  const {
    redis,
    url: shownUrl,
    close: closeRedis,
  } = openRedis(url, io, 'athena-rx worker', { wait: true, onState: (down) => (redisState.down = down) });
  const stopEndpoints = async (): Promise<void> => {
    await health?.stop();
    await endpoint?.stop();
  };
  const observeToken = endpoint && (<P extends AccessTokenProvider>(p: P) => observeTokens(p, { meter: endpoint.meter }));
  const connection = await connect(config, io, { observeToken }).catch(async (err: unknown) => {
    closeRedis();
    await stopEndpoints();
    throw err;
  });
  // Say it once and read nothing when the service cannot be used at all: jobs read now would
  // only wait in this worker's pending list until another worker claims them.
  const problem = await preflight(connection, config, io, { token: connection.token });
  if (problem !== undefined) {
    closeRedis();
    await connection.close();
    await stopEndpoints();
    io.stderr.write(`athena-rx worker: ${problem}\nno job was read\n`);
    return EXIT.unavailable;
  }
  const { client } = connection;
  const metrics = pipelineMetrics({ meter: endpoint?.meter, affiliate: client.affiliate, deploymentId: client.deploymentId });
  const gauges = endpoint
    ? workerMetrics(endpoint.meter, { redis, stream, group: queue.group, stats, redisDown: () => redisState.down })
    : undefined;
  const runStats = new RunStats();
  const counts: WorkerCounts = { released: 0, deadLettered: 0, superseded: 0, dropped: 0, left: 0 };
  const status = new StatusLine(io.stderr);
  const startedAt = performance.now();

  io.stderr.write(`worker ${queue.consumer ?? '(default name)'}: ${stream} on ${shownUrl}, group ${queue.group}\n`);
  const pipeline = classifyImagesOptions<JobRef>(settings, client.affiliate);
  const { failure, abandoned } = await runUntilStopped(
    io,
    status,
    { stats, redisState, shutdownTimeoutMs: queue.shutdownTimeoutMs },
    (until) =>
      redisWorker(redis, client, {
        stream,
        ...queue,
        window: settings.inFlight,
        until,
        metrics,
        stats,
        giveUpAfter: settings.giveUpAfter,
        pipeline: { batch: pipeline.batch, preprocess: pipeline.preprocess },
      }),
    (event) => {
      count(event, runStats, counts, io, shownUrl);
      status.update(runStats, counts.released, performance.now() - startedAt);
    },
  );
  status.clear();
  // With --drain, the group itself is asked whether anything is left: jobs pending on workers
  // that died are not done, whoever holds them.
  const groupPending =
    queue.drain && failure === undefined && abandoned === undefined ? await pendingInGroup(redis, stream, queue.group) : undefined;
  gauges?.stop();
  closeRedis();
  await connection.close();
  metrics.dispose();
  await stopEndpoints();

  io.stderr.write(renderSummary(runStats, performance.now() - startedAt) + '\n');
  return finalReport(io, {
    failure,
    abandoned,
    counts,
    held: stats.held,
    groupPending,
    drain: queue.drain,
    group: queue.group,
    address: connection.address,
  });
});

const WORKER_OPTIONS = {
  group: { type: 'string' },
  consumer: { type: 'string' },
  results: { type: 'string' },
  'dead-letter': { type: 'string' },
  'claim-idle': { type: 'string' },
  'max-deliveries': { type: 'string' },
  root: { type: 'string' },
  'any-path': { type: 'boolean' },
  'max-job-bytes': { type: 'string' },
  'max-inline-bytes': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'health-port': { type: 'string' },
  drain: { type: 'boolean' },
} as const satisfies OptionSpec;

/** The worker's own flags, as `redisWorker` options. */
function resolveQueue(flags: Flags, cwd: string, stream: string) {
  const names = Object.fromEntries(
    (['group', 'consumer', 'results', 'dead-letter'] as const).map((n) => {
      const v = stringFlag(flags, n);
      if (v === '') throw new UsageError(`--${n} must not be empty`);
      if ((n === 'results' || n === 'dead-letter') && v === stream)
        throw new UsageError(`--${n} must not be the jobs stream (${stream}): every entry written there would be read back as a job`);
      return [n, v];
    }),
  );
  const root = stringFlag(flags, 'root');
  const anyPath = boolFlag(flags, 'any-path');
  if (root === undefined && !anyPath)
    throw new UsageError('give --root DIR (jobs may read files inside DIR only) or --any-path (jobs may read any file this process can)');
  if (root !== undefined && anyPath) throw new UsageError('--root and --any-path exclude each other');
  if (root === '') throw new UsageError('--root must not be empty');
  return {
    group: names.group ?? 'athena-rx',
    consumer: names.consumer,
    results: names.results,
    deadLetter: names['dead-letter'],
    claimIdle: intFlag(flags, 'claim-idle', { min: 10, max: 86_400_000 }) ?? DEFAULT_CLAIM_IDLE,
    maxDeliveries: intFlag(flags, 'max-deliveries', { min: 1, max: 1000 }),
    maxInlineBytes: intFlag(flags, 'max-inline-bytes', { min: 1, max: 512 * 1024 * 1024 }),
    maxJobBytes: intFlag(flags, 'max-job-bytes', { min: 256, max: 512 * 1024 * 1024 }),
    root: root === undefined ? undefined : resolve(cwd, root),
    drain: boolFlag(flags, 'drain'),
    shutdownTimeoutMs: (intFlag(flags, 'shutdown-timeout', { min: 1, max: 3600 }) ?? DEFAULT_SHUTDOWN_TIMEOUT_S) * 1000,
  };
}
