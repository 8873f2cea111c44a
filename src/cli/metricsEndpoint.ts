import type { Meter } from '@opentelemetry/api';
import { METER_NAME } from '../metrics/instruments';
import { clientVersion } from '../transport/version';
import { intFlag, stringFlag, type Flags, type OptionSpec } from './args';
import { UsageError } from './io';

/** `--metrics-port`, shared by `classify` and `serve`. */
export const METRICS_OPTIONS = {
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
} as const satisfies OptionSpec;

export const METRICS_HELP = `metrics:
  --metrics-port N        serve OpenTelemetry metrics for Prometheus at http://HOST:N/metrics
                          while the command runs (docs/monitoring.md lists them)
  --metrics-host H        interface for --metrics-port (default 0.0.0.0, every interface)`;

/** A Prometheus endpoint and the meter that feeds it. */
export interface MetricsEndpoint {
  readonly meter: Meter;
  /** `http://host:port/metrics`. */
  readonly url: string;
  /** Stops serving (after a last scrape could read the final figures). */
  stop(): Promise<void>;
}

/** Reads `--metrics-port` and `--metrics-host`; undefined when no port was given. */
export function resolveMetrics(flags: Flags): { port: number; host: string } | undefined {
  const port = intFlag(flags, 'metrics-port', { min: 1, max: 65535 });
  const host = stringFlag(flags, 'metrics-host');
  if (port === undefined) {
    if (host !== undefined) throw new UsageError('--metrics-host needs --metrics-port');
    return undefined;
  }
  if (host === '') throw new UsageError('--metrics-host must not be empty');
  return { port, host: host ?? '0.0.0.0' };
}

/**
 * Starts the OpenTelemetry SDK with its Prometheus exporter on `port`. The SDK is loaded here
 * only: the library itself depends on `@opentelemetry/api` alone, a no-op without an SDK.
 * Rejects with a {@link UsageError} when the port cannot be bound.
 */
export async function startMetricsEndpoint(options: { port: number; host: string }): Promise<MetricsEndpoint> {
  // Loaded here, not at the top: only a run with --metrics-port pays for the SDK.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus') as typeof import('@opentelemetry/exporter-prometheus');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MeterProvider } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const exporter = new PrometheusExporter({ port: options.port, host: options.host, preventServerStart: true });
  try {
    await exporter.startServer();
  } catch (err) {
    throw new UsageError(`--metrics-port ${options.port}: cannot listen on ${options.host}:${options.port} (${(err as Error).message})`);
  }
  const provider = new MeterProvider({ readers: [exporter] });
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  return {
    meter: provider.getMeter(METER_NAME, clientVersion()),
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${options.port}/metrics`,
    stop: async () => {
      await provider.shutdown().catch(() => undefined);
      await exporter.stopServer().catch(() => undefined);
    },
  };
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
