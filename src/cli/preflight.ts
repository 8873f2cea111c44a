import { AthenaAuthError, AthenaTransportError, DEFAULT_TOKEN_URL, type AccessTokenProvider } from '../transport/index';
import type { Connection, ConnectionConfig } from './connect';
import { messageOf } from './errors';
import type { CliIo } from './io';

/** How long the check waits for the server to answer, by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Options of {@link preflight}. */
export interface PreflightOptions {
  /** Deadline of the `ListDeployments` call that proves the server usable, ms. Default 10,000. */
  readonly connectTimeoutMs?: number;
  /** The token provider of the connection (to fetch a token first, with its own progress line). */
  readonly token?: AccessTokenProvider;
  /** Time in epoch ms (tests). Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Checks, before any image is read, that the service can be used at all: a token can be had (and
 * has not expired), the server answers `ListDeployments` within the deadline, and accepts the
 * credential. Returns `undefined` when it can, else one message with the cause and what to do.
 * Progress goes to stderr while it waits (a token endpoint or a server that does not answer).
 */
export async function preflight(
  connection: Connection,
  config: ConnectionConfig,
  io: CliIo,
  options: PreflightOptions = {},
): Promise<string | undefined> {
  if (config.kind !== 'remote') return undefined; // the embedded server was just started here
  const now = options.now ?? Date.now;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const token = options.token;
  const tokenUrl = config.auth.kind === 'oauth' ? (config.auth.tokenUrl ?? DEFAULT_TOKEN_URL) : undefined;
  try {
    if (token && tokenUrl !== undefined) {
      await waiting(io, `an access token from ${tokenUrl}`, () => token.getToken());
    }
    const expiresAt = token?.expiresAt?.();
    if (expiresAt !== undefined && expiresAt <= now()) {
      return `the token expired at ${new Date(expiresAt).toISOString()}: get a new one (ATHENA_TOKEN / --token), or use client credentials (ATHENA_CLIENT_ID and ATHENA_CLIENT_SECRET), which are renewed as they expire`;
    }
    await waiting(io, `${config.address} to answer`, () => connection.client.listDeployments({ deadline: timeoutMs }));
    return undefined;
  } catch (err) {
    return diagnose(err, config, timeoutMs);
  }
}

/** Runs `work`, writing a line to stderr after 2 s and every 3 s after that until it settles. */
async function waiting<T>(io: CliIo, what: string, work: () => Promise<T>): Promise<T> {
  const startedAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const tick = (delay: number): void => {
    timer = setTimeout(() => {
      io.stderr.write(`waiting for ${what} (${Math.round((performance.now() - startedAt) / 1000)} s)...\n`);
      tick(3_000);
    }, delay);
    timer.unref();
  };
  tick(2_000);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
  }
}

type RemoteConfig = Extract<ConnectionConfig, { kind: 'remote' }>;

/** One message for a failure of the check: what happened, then what to do. */
export function diagnose(err: unknown, config: RemoteConfig, timeoutMs: number): string {
  const address = config.address;
  if (err instanceof AthenaAuthError) {
    const what = 'Check ATHENA_CLIENT_ID, ATHENA_CLIENT_SECRET, ATHENA_AUDIENCE and ATHENA_TOKEN_URL';
    if (err.code === 'TOKEN_REQUEST_FAILED' && (err.httpStatus === 401 || err.httpStatus === 403)) {
      return `the token endpoint refused the client credentials: ${err.message}. ${what}`;
    }
    if (err.code === 'TOKEN_ENDPOINT_UNREACHABLE') {
      return `could not get an access token: ${err.message}. Check the network and ATHENA_TOKEN_URL (--token-timeout waits longer)`;
    }
    return `could not get an access token: ${err.message}. ${what}`;
  }
  if (!(err instanceof AthenaTransportError)) return `could not reach ${address}: ${messageOf(err)}`;
  const details = err.details;
  const said = `(${err.code}${details ? `: ${tidy(details)}` : ''})`;
  switch (err.code) {
    case 'UNAUTHENTICATED':
    case 'PERMISSION_DENIED':
      return `${address} refused the credentials ${said}. Check the token (ATHENA_TOKEN) or the client credentials (ATHENA_CLIENT_ID, ATHENA_CLIENT_SECRET, ATHENA_AUDIENCE)`;
    case 'DEADLINE_EXCEEDED':
      return `${address} did not answer within ${timeoutMs / 1000} s ${said}. Check the address and the network; a firewall that drops packets looks like this`;
    case 'UNAVAILABLE':
      break;
    default:
      return `${address} cannot be used ${said}`;
  }
  const plaintextHint = config.secure ? ' If it is a plaintext server (athena-rx serve), add --insecure.' : '';
  if (/ECONNREFUSED/.test(details)) {
    return `nothing is listening at ${address} (connection refused). Check --address (ATHENA_ADDRESS) and that the server is running`;
  }
  if (/Name resolution failed|ENOTFOUND|EAI_AGAIN/.test(details)) {
    return `cannot resolve the host of ${address} ${said}. Check --address (ATHENA_ADDRESS) and DNS`;
  }
  if (/wrong version number|packet length too long|http request|unknown protocol/i.test(details)) {
    return `${address} does not speak TLS ${said}.${plaintextHint || ' Check the address and port.'}`;
  }
  if (/certificate|self[- ]signed|unable to verify|issuer|Hostname\/IP does not match|altnames/i.test(details)) {
    return `the certificate of ${address} is not trusted ${said}. If the server uses a private CA, pass its certificate with --ca-file; check that the address names the host the certificate was issued for`;
  }
  if (/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/.test(details)) {
    return `${address} cannot be reached over the network ${said}. Check --address and the network`;
  }
  if (!config.secure) {
    // A TLS server drops a plaintext HTTP/2 preface without a word ("Failed to connect").
    return `${address} closed the plaintext connection ${said}. If the server uses TLS, drop --insecure`;
  }
  return `cannot connect to ${address} ${said}. Check --address (ATHENA_ADDRESS).${plaintextHint}`;
}

/**
 * grpc-js details on one line: without the empty "Resolution note:" and with OpenSSL's error
 * stack (`Error: 80..:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/..`)
 * cut down to its reason.
 */
function tidy(details: string): string {
  return details
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/Error: [0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):\S*/g, 'SSL: $1')
    .replace(/\s+/g, ' ')
    .trim();
}
