import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
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

/** A gRPC server with the message limits, keep-alive tolerance and flow-control window of `o`. */
export function createGrpcServer(o: ResolvedOptions): grpc.Server {
  return new grpc.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.max_send_message_length': o.maxMessageBytes,
    // Clients that ping to keep long streams alive must not be refused.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 1000,
    'grpc.http2.max_ping_strikes': 0,
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
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${hostPart}:${o.port}`, credentials, (err, bound) =>
      err ? reject(new AthenaTestingError('BIND_FAILED', `cannot listen on ${hostPart}:${o.port}: ${err.message}`, { cause: err })) : resolve(bound),
    ),
  );
  grantWindow(server, o.flowControlWindow);
  return { address: `${hostPart}:${port}`, port };
}
