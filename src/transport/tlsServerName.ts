import type * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';

/**
 * `credentials` that send no TLS server name (SNI) when the address host is an IP literal.
 *
 * grpc-js puts the address host into `servername` even when it is an IP, which RFC 6066 does not
 * permit and for which Node prints `DEP0123` to the user's stderr (grpc/grpc-node#1919). Without
 * a `servername`, Node still checks the certificate against the address host (the IP), so
 * nothing else changes. A name given as `serverName` (`grpc.ssl_target_name_override`) is kept.
 *
 * This reaches into grpc-js internals (`_createSecureConnector` and its connector's
 * `connectionOptions`); should a release rename them, the warning comes back, nothing breaks.
 */
export function withoutIpServerName(credentials: grpc.ChannelCredentials): grpc.ChannelCredentials {
  type Connector = { connectionOptions?: { servername?: unknown } };
  const internal = credentials as unknown as { _createSecureConnector?: (...args: unknown[]) => Connector };
  const create = internal._createSecureConnector;
  if (typeof create !== 'function') return credentials;
  internal._createSecureConnector = function (this: unknown, ...args: unknown[]): Connector {
    const connector = create.apply(this, args);
    const options = connector?.connectionOptions;
    if (options && typeof options.servername === 'string' && isIP(options.servername)) delete options.servername;
    return connector;
  };
  return credentials;
}
