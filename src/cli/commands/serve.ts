import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { AthenaServerOptions } from '../../testing/server';
import { messageOf } from '../errors';
import { EXIT, UsageError, type CliIo, type Command } from '../io';
import { ATTR, INSTRUMENTS } from '../../metrics/instruments';
import type { AthenaTestServer } from '../../testing/server';
import { resolveMetrics, startMetricsEndpoint, type MetricsEndpoint } from '../metricsEndpoint';

const HELP = `usage: athena-rx serve [--port N] [--host H] [--tls-cert FILE --tls-key FILE] [--token TOKEN:AFF1,AFF2 ...]

Runs the in-process Athena-compatible server until SIGINT or SIGTERM.
The first line of stdout is its address (host:port).

  --port N          port to listen on (default 0: a free port)
  --host H          interface (default 127.0.0.1)
  --tls-cert FILE   PEM certificate chain; with --tls-key serves TLS
  --tls-key FILE    PEM private key
  --token T:A,B     accept bearer token T for affiliates A and B ('T:*' for any);
                    repeatable; without --token no authentication is required
  --metrics-port N  serve the deployments' backlog, joined streams and purged responses
                    for Prometheus at http://HOST:N/metrics (docs/monitoring.md)
  --metrics-host H  interface for --metrics-port (default 127.0.0.1; 0.0.0.0 for every
                    interface); a metrics port that cannot be bound exits 2 before serving
`;

/** Options parsed from the command line, ready for `startAthenaServer`. */
export function parseServeArgs(args: string[], cwd: string): AthenaServerOptions | 'help' {
  return parseServe(args, cwd).options;
}

/** The server's options and, with `--metrics-port`, where to serve metrics. */
function parseServe(args: string[], cwd: string): { options: AthenaServerOptions | 'help'; metrics?: { port: number; host: string } } {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        token: { type: 'string', multiple: true },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { options: 'help' };
  const metrics = resolveMetrics({ 'metrics-port': values['metrics-port'], 'metrics-host': values['metrics-host'] });
  const options: AthenaServerOptions = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError(`--port must be an integer 0..65535, got '${values.port}'`);
    options.port = port;
  }
  if (values.host !== undefined) {
    if (!values.host) throw new UsageError('--host must not be empty');
    options.host = values.host;
  }
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (certFile !== undefined && keyFile !== undefined) {
    const read = (flag: string, file: string) => {
      try {
        return fs.readFileSync(path.resolve(cwd, file));
      } catch (err) {
        throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
      }
    };
    options.tls = { cert: read('--tls-cert', certFile), key: read('--tls-key', keyFile) };
  }
  if (values.token) {
    const tokens: Record<string, string[] | '*'> = {};
    for (const spec of values.token) {
      const colon = spec.lastIndexOf(':');
      const token = colon > 0 ? spec.slice(0, colon) : '';
      const list = colon > 0 ? spec.slice(colon + 1) : '';
      if (!token || !list) throw new UsageError(`--token must be TOKEN:AFFILIATE[,AFFILIATE...] or TOKEN:*, got '${spec}'`);
      tokens[token] = list === '*' ? '*' : list.split(',').filter(Boolean);
    }
    options.tokens = tokens;
  }
  return { options, metrics };
}

/**
 * `athena-rx serve`: runs the in-process server standalone. Resolves (exit code 0) once the
 * server has stopped, after SIGINT/SIGTERM or, for tests, when `signal` aborts.
 *
 * @param signal stops the server like SIGINT does; used by tests that run the command in-process.
 */
export async function runServe(args: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { options: parsed, metrics } = parseServe(args, io.cwd);
  if (parsed === 'help') {
    io.stdout.write(HELP);
    return EXIT.ok;
  }
  // Loaded here so that `--help` and usage errors do not load gRPC.
  const { startAthenaServer } = require('../../testing/server') as typeof import('../../testing/server');
  // Before the server: a metrics port that is taken exits 2 (a UsageError) with nothing served.
  const endpoint = metrics ? await startMetricsEndpoint(metrics) : undefined;
  let server;
  try {
    server = await startAthenaServer(parsed);
  } catch (err) {
    await endpoint?.stop();
    // One line in the command's own voice (cannot listen: port in use, not permitted).
    io.stderr.write(`athena-rx serve: ${messageOf(err)}\n`);
    return EXIT.failed;
  }
  io.stdout.write(`${server.address}\n`);
  io.stderr.write(
    `athena-rx serve: listening on ${server.address} (${parsed.tls ? 'TLS' : 'plaintext'}${parsed.tokens ? ', tokens required' : ''}); Ctrl-C stops\n`,
  );
  if (endpoint) serveMetrics(server, endpoint);
  if (endpoint?.url) io.stderr.write(`athena-rx serve: metrics for Prometheus at ${endpoint.url}\n`);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done);
  });
  await server.stop();
  await endpoint?.stop();
  io.stderr.write('athena-rx serve: stopped\n');
  return EXIT.ok;
}

/** The `serve` subcommand as the dispatcher calls it. */
export const serve: Command = (args, io) => runServe(args, io);

/** The server's deployments as gauges: backlog and joined streams, and responses purged. */
function serveMetrics(server: AthenaTestServer, endpoint: MetricsEndpoint): void {
  const { meter } = endpoint;
  const spec = (i: { name: string; unit: string; description: string }) => [i.name, { unit: i.unit, description: i.description }] as const;
  const backlog = meter.createObservableGauge(...spec(INSTRUMENTS.backlog));
  const streams = meter.createObservableGauge(...spec(INSTRUMENTS.serverStreams));
  const purged = meter.createObservableCounter(...spec(INSTRUMENTS.serverPurged));
  meter.addBatchObservableCallback(
    (r) => {
      for (const d of server.deployments()) {
        const attrs = { [ATTR.deployment]: d.deploymentId };
        r.observe(backlog, d.backlog, attrs);
        r.observe(streams, d.streams, attrs);
        r.observe(purged, d.purged, attrs);
      }
    },
    [backlog, streams, purged],
  );
}
