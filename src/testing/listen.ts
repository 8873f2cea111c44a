import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import * as net from 'node:net';
import { AthenaTestingError } from './errors';
import type { ResolvedOptions } from './options';

/**
 * Grants every HTTP/2 session of `server` a `window`-byte receive window, per stream (SETTINGS)
 * and for the connection (WINDOW_UPDATE). grpc-js servers expose neither their HTTP/2 servers
 * nor their sessions, so this reaches for the private `http2Servers` map; should a grpc-js
 * release rename it, sessions keep HTTP/2's 64 KiB window: slower, never wrong.
 */
function grantWindow(server: grpc.Server, window: number): void {
  if (window <= 65_535) return;
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return;
  for (const http2Server of http2Servers.keys() as Iterable<EventEmitter>) {
    http2Server.on('session', (session: Http2Session) => {
      session.settings({ initialWindowSize: window });
      session.setLocalWindowSize(window);
    });
  }
}

/**
 * Why `host:port` cannot be listened on (in use, not permitted), found by listening once with
 * node's net module. grpc-js would find it too, but it also logs "No address added out of total 1
 * resolved" to the console of the whole process; the caller's error is enough. Port 0 always works.
 */
function portProblem(host: string, port: number): Promise<Error | undefined> {
  if (port === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === 'EADDRINUSE'
          ? new Error(`address already in use (EADDRINUSE)`, { cause: err })
          : err.code === 'EACCES'
            ? new Error('permission denied (EACCES)', { cause: err })
            : undefined,
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** A gRPC server with the message limits, keep-alive tolerance and flow-control window of `o`. */
export function createGrpcServer(o: ResolvedOptions): grpc.Server {
  return new grpc.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.max_send_message_length': o.maxMessageBytes,
    // Clients that ping to keep long streams alive must not be refused.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 1000,
    'grpc.http2.max_ping_strikes': 0,
    // Each open stream may hold a request read whole: the cap bounds what one connection costs.
    'grpc.max_concurrent_streams': o.maxConcurrentStreams,
    // Read by grpc-js servers once grpc/grpc-node#3058 lands; until then grantWindow() does it.
    'grpc-node.flow_control_window': o.flowControlWindow,
  });
}

/**
 * Binds `server` to `o.host:o.port` (TLS when `o.tls`), grants its flow-control window, and
 * returns the address clients use.
 * @throws AthenaTestingError `BIND_FAILED` when it cannot listen.
 */
export async function listen(server: grpc.Server, o: ResolvedOptions): Promise<{ address: string; port: number }> {
  const credentials = o.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(o.tls.cert), private_key: Buffer.from(o.tls.key) }], false)
    : grpc.ServerCredentials.createInsecure();
  const hostPart = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  const taken = await portProblem(o.host, o.port);
  if (taken) throw new AthenaTestingError('BIND_FAILED', `cannot listen on ${hostPart}:${o.port}: ${taken.message}`, { cause: taken });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${hostPart}:${o.port}`, credentials, (err, bound) =>
      err
        ? reject(new AthenaTestingError('BIND_FAILED', `cannot listen on ${hostPart}:${o.port}: ${err.message}`, { cause: err }))
        : resolve(bound),
    ),
  );
  grantWindow(server, o.flowControlWindow);
  return { address: `${hostPart}:${port}`, port };
}
