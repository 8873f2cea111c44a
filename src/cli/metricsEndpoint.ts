import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Meter } from '@opentelemetry/api';
import { METER_NAME } from '../metrics/instruments';
import { prometheusViews } from '../metrics/naming';
import { clientVersion } from '../transport/version';
import { intFlag, stringFlag, type Flags, type OptionSpec } from './args';
import { messageOf } from './errors';
import { UsageError } from './io';

/** `--metrics-port` and `--metrics-host`, shared by `classify`, `worker` and `serve`. */
export const METRICS_OPTIONS = {
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
} as const satisfies OptionSpec;

/** Where metrics listen when `--metrics-host` is not given: this machine only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export const METRICS_HELP = `metrics:
  --metrics-port N        serve OpenTelemetry metrics for Prometheus at http://HOST:N/metrics
                          while the command runs (docs/monitoring.md lists them); a port
                          that cannot be bound exits 2 before any work
  --metrics-host H        interface for --metrics-port (default ${DEFAULT_METRICS_HOST}, this machine
                          only; 0.0.0.0 for every interface)`;

/** Where the metrics of a run go: an endpoint to scrape, a textfile written at the end, or both. */
export interface MetricsTargets {
  readonly port?: number;
  readonly host?: string;
  /** Absolute path of the textfile for node_exporter, written atomically when the run stops. */
  readonly textfile?: string;
}

/** A Prometheus endpoint and the meter that feeds it. */
export interface MetricsEndpoint {
  readonly meter: Meter;
  /** `http://host:port/metrics`; undefined when only a textfile is written. */
  readonly url: string | undefined;
  /** Writes the textfile (if asked) and stops serving (after a last scrape could read the final figures). */
  stop(): Promise<void>;
}

/**
 * Reads `--metrics-port` and `--metrics-host`; undefined when no port was given. `hostServesOther`:
 * another endpoint of the command listens on `--metrics-host` too (the worker's `--health-port`),
 * so the host may be given without a metrics port.
 */
export function resolveMetrics(flags: Flags, hostServesOther = false): { port: number; host: string } | undefined {
  const port = intFlag(flags, 'metrics-port', { min: 1, max: 65535 });
  const host = resolveMetricsHost(flags);
  if (port === undefined) {
    if (stringFlag(flags, 'metrics-host') !== undefined && !hostServesOther) throw new UsageError('--metrics-host needs --metrics-port');
    return undefined;
  }
  return { port, host };
}

/** `--metrics-host`, checked, or {@link DEFAULT_METRICS_HOST}. */
export function resolveMetricsHost(flags: Flags): string {
  const host = stringFlag(flags, 'metrics-host');
  if (host === '') throw new UsageError('--metrics-host must not be empty');
  return host ?? DEFAULT_METRICS_HOST;
}

/**
 * Starts the OpenTelemetry SDK with its Prometheus exporter: listening on `port` when given,
 * and writing `textfile` at the end when given. The SDK is loaded here only: the library itself
 * depends on `@opentelemetry/api` alone, a no-op without an SDK. The resource comes from the
 * environment (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`; default service `athena-rx`), and
 * the views give durations their `_seconds` suffix. Rejects with a {@link UsageError} (exit 2)
 * when the port cannot be bound: callers start it before any work.
 */
export async function startMetricsEndpoint(targets: MetricsTargets): Promise<MetricsEndpoint> {
  // Loaded here, not at the top: only a run with metrics pays for the SDK.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { PrometheusExporter, PrometheusSerializer } =
    require('@opentelemetry/exporter-prometheus') as typeof import('@opentelemetry/exporter-prometheus');
  const { MeterProvider } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { metricsResource } = require('../metrics/resource') as typeof import('../metrics/resource');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const { port, textfile } = targets;
  const host = targets.host ?? DEFAULT_METRICS_HOST;
  const exporter = new PrometheusExporter({ port, host, preventServerStart: true });
  if (port !== undefined) {
    try {
      await exporter.startServer();
    } catch (err) {
      throw new UsageError(`--metrics-port ${port}: cannot listen on ${host}:${port} (${messageOf(err)})`);
    }
  }
  const provider = new MeterProvider({ readers: [exporter], resource: metricsResource(), views: prometheusViews() });
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const writeTextfile = async (path: string): Promise<void> => {
    const { resourceMetrics } = await exporter.collect();
    writeAtomically(path, new PrometheusSerializer().serialize(resourceMetrics));
  };
  return {
    meter: provider.getMeter(METER_NAME, clientVersion()),
    url: port === undefined ? undefined : `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/metrics`,
    stop: async () => {
      try {
        if (textfile !== undefined) await writeTextfile(textfile);
      } finally {
        await provider.shutdown().catch(() => undefined);
        await exporter.stopServer().catch(() => undefined);
      }
    },
  };
}

/**
 * `--metrics-textfile PATH`: checked before any work (its folder must be writable, the name
 * must end in `.prom`, as node_exporter's textfile collector reads only those); absolute path.
 */
export function resolveMetricsTextfile(flags: Flags, cwd: string): string | undefined {
  const given = stringFlag(flags, 'metrics-textfile');
  if (given === undefined) return undefined;
  if (!given.endsWith('.prom'))
    throw new UsageError(`--metrics-textfile must end in .prom (node_exporter reads only those), got '${given}'`);
  const full = resolve(cwd, given);
  const probe = tempPath(full);
  try {
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new UsageError(`--metrics-textfile: cannot write in '${dirname(given)}' (${messageOf(err)})`);
  }
  return full;
}

/** A temporary name beside `path` that node_exporter does not read (not `.prom`). */
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
}

/** Writes beside `path`, then renames: a scrape never reads half a file. */
function writeAtomically(path: string, text: string): void {
  const temp = tempPath(path);
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new Error(`--metrics-textfile: cannot write '${path}' (${messageOf(err)})`, { cause: err });
  }
}

/** How often a run with `--metrics-port` asks `ListDeployments` for the backlogs. */
export const BACKLOG_POLL_MS = 15_000;

/**
 * Polls `ListDeployments` every `intervalMs` (and once at once) and records each deployment's
 * backlog for the `athena.deployment.backlog` gauge. A failed poll is skipped: the stream's own
 * errors say what is wrong. Returns the function that stops polling.
 */
export function pollBacklog(
  client: {
    listDeployments(options?: { deadline?: number }): Promise<{ deployments: ReadonlyArray<{ deploymentId: string; backlog: number }> }>;
  },
  metrics: { recordBacklog(deploymentId: string, backlog: number): void },
  intervalMs = BACKLOG_POLL_MS,
): () => void {
  let stopped = false;
  const poll = (): void => {
    client.listDeployments({ deadline: Math.min(intervalMs, 10_000) }).then(
      ({ deployments }) => {
        if (!stopped) for (const d of deployments) metrics.recordBacklog(d.deploymentId, d.backlog);
      },
      () => undefined,
    );
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
