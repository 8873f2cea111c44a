import type { Meter, ObservableResult } from '@opentelemetry/api';
import type { RedisConnection } from './connection';
import type { WorkerStats } from './workerState';

/**
 * The worker's own instruments, beside the pipeline's (`pipelineMetrics`): what a fleet is scaled
 * and alerted on. Names follow the library's conventions (docs/monitoring.md); the Prometheus
 * exporter turns them into `athena_worker_group_lag`, `athena_worker_jobs_pending`,
 * `athena_worker_dead_letters_total` and `athena_worker_outage`.
 */
export const WORKER_INSTRUMENTS = {
  groupLag: {
    kind: 'gauge',
    name: 'athena.worker.group.lag',
    unit: '{job}',
    description: "Jobs in the stream not yet delivered to the worker's consumer group (XINFO GROUPS lag): what to autoscale on.",
    attributes: [] as string[],
  },
  jobsPending: {
    kind: 'gauge',
    name: 'athena.worker.jobs.pending',
    unit: '{job}',
    description: 'Jobs delivered to a consumer of the group and not yet acknowledged (XPENDING), across all its workers.',
    attributes: [] as string[],
  },
  deadLetters: {
    kind: 'observable counter',
    name: 'athena.worker.dead_letters',
    unit: '{job}',
    description: 'Jobs this worker moved to the dead-letter stream.',
    attributes: [] as string[],
  },
  outage: {
    kind: 'gauge',
    name: 'athena.worker.outage',
    unit: '1',
    description: 'Whether a dependency of the worker is unreachable now: 1 during an outage, else 0.',
    attributes: ['athena.dependency'],
  },
} as const;

/** The attribute that names the dependency of {@link WORKER_INSTRUMENTS}.outage: `athena` or `redis`. */
export const DEPENDENCY_ATTR = 'athena.dependency';

/** What {@link workerMetrics} reads. */
export interface WorkerMetricsSource {
  readonly redis: RedisConnection;
  readonly stream: string;
  readonly group: string;
  readonly stats: WorkerStats;
  /** Whether Redis is unreachable now. */
  readonly redisDown: () => boolean;
  /** How often the group's lag and pending count are asked of Redis, ms. Default 5,000. */
  readonly pollMs?: number;
}

/**
 * Records the worker's instruments on `meter` until `stop()`. The group's figures are polled
 * (`XINFO GROUPS`, `XPENDING`) every `pollMs` on the worker's connection; a poll that fails or
 * finds Redis down keeps the last figures. Returns the function that stops it.
 */
export function workerMetrics(meter: Meter, source: WorkerMetricsSource): { stop(): void } {
  const { groupLag, jobsPending, deadLetters, outage } = WORKER_INSTRUMENTS;
  const figures: { lag?: number; pending?: number } = {};
  const lagGauge = meter.createObservableGauge(groupLag.name, { unit: groupLag.unit, description: groupLag.description });
  const pendingGauge = meter.createObservableGauge(jobsPending.name, { unit: jobsPending.unit, description: jobsPending.description });
  const deadCounter = meter.createObservableCounter(deadLetters.name, { unit: deadLetters.unit, description: deadLetters.description });
  const outageGauge = meter.createObservableGauge(outage.name, { unit: outage.unit, description: outage.description });
  const onLag = (r: ObservableResult): void => {
    if (figures.lag !== undefined) r.observe(figures.lag);
  };
  const onPending = (r: ObservableResult): void => {
    if (figures.pending !== undefined) r.observe(figures.pending);
  };
  const onDead = (r: ObservableResult): void => r.observe(source.stats.deadLettered);
  const onOutage = (r: ObservableResult): void => {
    r.observe(source.stats.athenaDown ? 1 : 0, { [DEPENDENCY_ATTR]: 'athena' });
    r.observe(source.redisDown() ? 1 : 0, { [DEPENDENCY_ATTR]: 'redis' });
  };
  lagGauge.addCallback(onLag);
  pendingGauge.addCallback(onPending);
  deadCounter.addCallback(onDead);
  outageGauge.addCallback(onOutage);

  let stopped = false;
  const poll = (): void => {
    if (stopped || source.redisDown()) return;
    void groupFigures(source.redis, source.stream, source.group).then(
      (f) => {
        if (f.lag !== undefined) figures.lag = f.lag;
        if (f.pending !== undefined) figures.pending = f.pending;
      },
      () => undefined,
    );
  };
  poll();
  const timer = setInterval(poll, source.pollMs ?? 5_000);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      lagGauge.removeCallback(onLag);
      pendingGauge.removeCallback(onPending);
      deadCounter.removeCallback(onDead);
      outageGauge.removeCallback(onOutage);
    },
  };
}

/** The group's lag (`XINFO GROUPS`, Redis 7+; undefined before) and pending count (`XPENDING`). */
export async function groupFigures(redis: RedisConnection, stream: string, group: string): Promise<{ lag?: number; pending?: number }> {
  const [groups, summary] = await Promise.all([redis.call('XINFO', 'GROUPS', stream), redis.call('XPENDING', stream, group)]);
  let lag: number | undefined;
  for (const g of (groups as unknown[][]) ?? []) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) fields.set(String(g[i]), g[i + 1]);
    if (fields.get('name') === group && typeof fields.get('lag') === 'number') lag = fields.get('lag') as number;
  }
  const pending = Array.isArray(summary) ? Number(summary[0]) : undefined;
  return { ...(lag !== undefined ? { lag } : {}), ...(pending !== undefined ? { pending } : {}) };
}
