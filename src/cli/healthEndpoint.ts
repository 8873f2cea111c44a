import { createServer, type Server } from 'node:http';
import { UsageError } from './io';

/** What a health probe answers: alive always while the process serves; ready with a reason when not. */
export interface Health {
  readonly ready: boolean;
  /** Why not ready (or `ok`), one line for the probe's log. */
  readonly reason: string;
}

/** A running health endpoint. */
export interface HealthEndpoint {
  /** `http://host:port`. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Serves `/livez` (200 while the process's event loop runs: a supervisor restarts it when this
 * stops answering) and `/readyz` (200 when `health()` says ready, else 503 with the reason) for
 * Kubernetes probes or any supervisor. Anything else is 404. Rejects with a {@link UsageError}
 * when the port cannot be bound.
 */
export async function startHealthEndpoint(at: { port: number; host: string }, health: () => Health): Promise<HealthEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const h = health();
      res.writeHead(h.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${h.reason}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /livez or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new UsageError(`--health-port ${at.port}: cannot listen on ${at.host}:${at.port} (${err.message})`)),
    );
    server.listen(at.port, at.host, () => resolve());
  });
  const shown = at.host === '0.0.0.0' || at.host === '::' ? '127.0.0.1' : at.host;
  return {
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${at.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
