import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { idProblem } from '../core/ids';
import { startAthenaServer, type AthenaTestServer } from '../testing/index';
import { createAthenaClient, insecure, isLoopbackAddress, oauthClientCredentials, tls, type AthenaGrpcClient } from '../transport/index';
import { isLoopbackHost } from '../transport/credentials';
import type { AccessTokenProvider } from '../transport/credentials';
import { boolFlag, intFlag, stringFlag, type Flags, type OptionSpec } from './args';
import { UsageError, type CliIo } from './io';
import { messageOf } from './errors';

/** The public service, named in messages that tell the user what to set. */
export const SERVICE_ADDRESS = 'api.athena-risk-intelligence.com:443';

/**
 * Said on stderr once per run that uses the embedded server: its labels look like a classifier's
 * and a reader took `UnknownCSAM-PCSAM` for a verdict.
 */
export const SYNTHETIC_WEIGHTS_NOTE =
  "note: the embedded server's weights are synthetic (a deterministic function of the pixels) and mean nothing about the images; give --address for real results";

/** Server and credential options shared by every command that talks to a server. */
export const CONNECTION_OPTIONS = {
  address: { type: 'string' },
  insecure: { type: 'boolean' },
  'ca-file': { type: 'string' },
  token: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  audience: { type: 'string' },
  'token-url': { type: 'string' },
  affiliate: { type: 'string' },
  'deployment-id': { type: 'string' },
  'allow-plaintext-credentials': { type: 'boolean' },
  'token-timeout': { type: 'string' },
} as const satisfies OptionSpec;

/** Help text for {@link CONNECTION_OPTIONS}, shared by the commands' `--help`. */
export const CONNECTION_HELP = `server (default: an embedded test server with the benign classifier):
  --address HOST:PORT     the Athena server [ATHENA_ADDRESS], e.g. ${SERVICE_ADDRESS}
  --insecure              plaintext instead of TLS (a local server, e.g. athena-rx serve) [ATHENA_INSECURE=1]
  --ca-file FILE          PEM root certificates to trust instead of the system's
  --token TOKEN           a static bearer token [ATHENA_TOKEN]
  --client-id ID          OAuth client credentials [ATHENA_CLIENT_ID]
  --client-secret SECRET  [ATHENA_CLIENT_SECRET] (prefer the variable: arguments show in ps)
  --audience AUDIENCE     [ATHENA_AUDIENCE] default crisp-athena-live
  --token-url URL         [ATHENA_TOKEN_URL] default https://crispthinking.auth0.com/oauth/token
  --affiliate NAME        [ATHENA_AFFILIATE]
  --deployment-id ID      [ATHENA_DEPLOYMENT_ID] default: a new one per run
  --token-timeout S       seconds to wait for the token endpoint (default 10)
  --allow-plaintext-credentials
                          let a token travel over --insecure, or the client secret over an
                          http:// token URL, to a host that is not loopback (refused by default)`;

/** How a client authenticates to a remote server. */
export type AuthConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string }
  | {
      readonly kind: 'oauth';
      readonly clientId: string;
      readonly clientSecret: string;
      readonly audience?: string;
      readonly tokenUrl?: string;
      /** `--token-timeout` in ms: one request's timeout and the whole wait, retries included; default the library's (10 s each). */
      readonly tokenTimeoutMs?: number;
    };

/** Where to connect, resolved from flags and environment (flags win). */
export type ConnectionConfig =
  | { readonly kind: 'embedded'; readonly affiliate?: string; readonly deploymentId?: string }
  | {
      readonly kind: 'remote';
      readonly address: string;
      readonly secure: boolean;
      readonly caFile?: string;
      readonly auth: AuthConfig;
      /** `--allow-plaintext-credentials`: credentials may cross the network unencrypted. */
      readonly allowPlaintextCredentials?: boolean;
      readonly affiliate?: string;
      readonly deploymentId?: string;
    };

/** A setting and where it came from, so that messages name what the user actually set. */
interface Setting {
  readonly value: string;
  readonly source: string;
}

function setting(flags: Flags, env: NodeJS.ProcessEnv, flag: string, variable?: string): Setting | undefined {
  const fromFlag = stringFlag(flags, flag);
  if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
  if (!variable) return undefined;
  const fromEnv = env[variable];
  // An empty variable (`ATHENA_TOKEN=`) is how people unset things in scripts: treat it as absent.
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable };
  return undefined;
}

/**
 * `--insecure`, or `ATHENA_INSECURE=1` as the examples read it (`true` and `yes` too; `0`,
 * `false`, `no` or empty: off). Anything else is a usage error rather than a guess.
 */
function plaintextSetting(flags: Flags, env: NodeJS.ProcessEnv): Setting | undefined {
  if (boolFlag(flags, 'insecure')) return { value: '1', source: '--insecure' };
  const raw = env.ATHENA_INSECURE;
  if (raw === undefined) return undefined;
  const word = raw.trim().toLowerCase();
  if (['1', 'true', 'yes'].includes(word)) return { value: raw, source: 'ATHENA_INSECURE' };
  if (['', '0', 'false', 'no'].includes(word)) return undefined;
  throw new UsageError(`ATHENA_INSECURE must be 1 (plaintext, for a local server) or 0, got '${raw}'`);
}

const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function checkId(s: Setting | undefined, what: string): string | undefined {
  if (!s) return undefined;
  // The contract's one id rule (src/core/ids), said as a usage error naming the flag or variable.
  const problem = idProblem(`a ${what}`, s.value);
  if (problem !== undefined) throw new UsageError(`${s.source}: ${problem}`);
  return s.value;
}

/**
 * Resolves the server and credentials from flags and environment variables (a flag wins over
 * its variable). No address means the embedded test server. Throws a {@link UsageError} that
 * says what to change when the settings are missing or contradict each other.
 */
export function resolveConnection(flags: Flags, env: NodeJS.ProcessEnv): ConnectionConfig {
  const address = setting(flags, env, 'address', 'ATHENA_ADDRESS');
  const token = setting(flags, env, 'token', 'ATHENA_TOKEN');
  const clientId = setting(flags, env, 'client-id', 'ATHENA_CLIENT_ID');
  const clientSecret = setting(flags, env, 'client-secret', 'ATHENA_CLIENT_SECRET');
  const audience = setting(flags, env, 'audience', 'ATHENA_AUDIENCE');
  const tokenUrl = setting(flags, env, 'token-url', 'ATHENA_TOKEN_URL');
  const caFile = setting(flags, env, 'ca-file');
  const insecureSetting = plaintextSetting(flags, env);
  const plaintext = insecureSetting !== undefined;
  const affiliateSetting = setting(flags, env, 'affiliate', 'ATHENA_AFFILIATE');
  const affiliate = affiliateSetting?.value;
  const deploymentId = checkId(setting(flags, env, 'deployment-id', 'ATHENA_DEPLOYMENT_ID'), 'deployment id');

  if (!address) {
    const remoteOnly = [token, clientId, clientSecret, audience, tokenUrl, caFile].filter((s): s is Setting => s !== undefined);
    if (insecureSetting) remoteOnly.unshift(insecureSetting);
    if (remoteOnly.length > 0) {
      const names = remoteOnly.map((s) => s.source).join(', ');
      throw new UsageError(
        `${names} given but no server address: add --address HOST:PORT (or set ATHENA_ADDRESS; the service is ${SERVICE_ADDRESS}), ` +
          `or leave ${remoteOnly.length === 1 ? 'it' : 'them'} out to use the embedded test server`,
      );
    }
    return { kind: 'embedded', affiliate, deploymentId };
  }

  if (!ADDRESS.test(address.value) || Number(ADDRESS.exec(address.value)?.[1]) > 65535 || Number(ADDRESS.exec(address.value)?.[1]) === 0) {
    throw new UsageError(`${address.source} must be HOST:PORT (for example ${SERVICE_ADDRESS} or 127.0.0.1:50051), got '${address.value}'`);
  }
  if (insecureSetting && caFile)
    throw new UsageError(
      `${insecureSetting.source} and --ca-file contradict each other: a plaintext channel uses no certificates; drop one`,
    );

  let auth: AuthConfig;
  if (token && (clientId || clientSecret)) {
    const other = (clientId ?? clientSecret) as Setting;
    throw new UsageError(`both a static token (${token.source}) and client credentials (${other.source}) are set: give one of them`);
  }
  if (token) {
    auth = { kind: 'token', token: token.value };
  } else if (clientId || clientSecret) {
    if (!clientId)
      throw new UsageError(`${(clientSecret as Setting).source} is set but no client id: set ATHENA_CLIENT_ID (or --client-id) too`);
    if (!clientSecret)
      throw new UsageError(`${clientId.source} is set but no client secret: set ATHENA_CLIENT_SECRET (or --client-secret) too`);
    const tokenTimeout = intFlag(flags, 'token-timeout', { min: 1, max: 600 });
    auth = {
      kind: 'oauth',
      clientId: clientId.value,
      clientSecret: clientSecret.value,
      audience: audience?.value,
      tokenUrl: tokenUrl?.value,
      ...(tokenTimeout !== undefined ? { tokenTimeoutMs: tokenTimeout * 1000 } : {}),
    };
  } else {
    if (!plaintext) {
      throw new UsageError(
        `no credentials for ${address.value}: set ATHENA_CLIENT_ID and ATHENA_CLIENT_SECRET (or --client-id/--client-secret), ` +
          `or a token in ATHENA_TOKEN (--token); a local server without authentication needs --insecure`,
      );
    }
    auth = { kind: 'none' };
  }
  if (auth.kind !== 'oauth') {
    const stray = [audience, tokenUrl].filter((s): s is Setting => s !== undefined);
    if (stray.length > 0) {
      throw new UsageError(
        `${stray.map((s) => s.source).join(' and ')} only apply to client credentials (ATHENA_CLIENT_ID/ATHENA_CLIENT_SECRET); set those or drop ${stray.length === 1 ? 'it' : 'them'}`,
      );
    }
  }
  const allowPlaintextCredentials = boolFlag(flags, 'allow-plaintext-credentials');
  checkPlaintextCredentials(address, insecureSetting, auth, tokenUrl, allowPlaintextCredentials);
  return {
    kind: 'remote',
    address: address.value,
    secure: !plaintext,
    caFile: caFile?.value,
    auth,
    affiliate,
    deploymentId,
    allowPlaintextCredentials,
  };
}

/**
 * Credentials never cross the network in plaintext unless the user says so: a token (static or
 * from OAuth) over --insecure to a host that is not loopback, and the client secret to an
 * http:// token URL that is not loopback, need --allow-plaintext-credentials.
 */
function checkPlaintextCredentials(
  address: Setting,
  plaintext: Setting | undefined,
  auth: AuthConfig,
  tokenUrl: Setting | undefined,
  allowed: boolean,
): void {
  if (allowed) return;
  if (plaintext && auth.kind !== 'none' && !isLoopbackAddress(address.value)) {
    throw new UsageError(
      `${plaintext.source} would send the ${auth.kind === 'token' ? 'token' : 'OAuth access token'} in plaintext to ${address.value}, which is not loopback: ` +
        `drop ${plaintext.source} to use TLS, or add --allow-plaintext-credentials if the network is trusted`,
    );
  }
  if (auth.kind === 'oauth' && tokenUrl && /^http:/i.test(tokenUrl.value)) {
    let host: string;
    try {
      host = new URL(tokenUrl.value).hostname;
    } catch {
      throw new UsageError(`${tokenUrl.source} must be an https:// URL, got '${tokenUrl.value}'`);
    }
    if (!isLoopbackHost(host)) {
      throw new UsageError(
        `${tokenUrl.source} is plaintext http and would send the client secret unencrypted to ${host}: ` +
          'use an https:// URL, or add --allow-plaintext-credentials if the network is trusted',
      );
    }
  }
}

/** A client ready for calls, and how to release it. */
export interface Connection {
  readonly client: AthenaGrpcClient;
  /** `host:port` the client talks to. */
  readonly address: string;
  /** The embedded server, when one was started. */
  readonly server?: AthenaTestServer;
  /** The token every call carries, when there is one (for the check before work starts). */
  readonly token?: AccessTokenProvider;
  /** Closes the client and stops the embedded server, if any. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens a client as {@link resolveConnection} decided: the embedded server is started here (and
 * announced on stderr, so nobody mistakes its benign weights for a real verdict).
 */
export async function connect(
  config: ConnectionConfig,
  io: CliIo,
  options: { observeToken?: <P extends AccessTokenProvider>(provider: P) => P } = {},
): Promise<Connection> {
  if (config.kind === 'embedded') {
    const server = await startAthenaServer({});
    io.stderr.write(
      `no --address given: using the embedded test server at ${server.address} (benign classifier)\n${SYNTHETIC_WEIGHTS_NOTE}\n`,
    );
    const client = createAthenaClient({
      address: server.address,
      credentials: insecure(),
      affiliate: config.affiliate,
      deploymentId: config.deploymentId,
    });
    let closed: Promise<void> | undefined;
    return {
      client,
      address: server.address,
      server,
      close: () => {
        closed ??= (async () => {
          client.close();
          await server.stop();
        })();
        return closed;
      },
    };
  }
  const { auth } = config;
  const given =
    auth.kind === 'token'
      ? auth.token
      : auth.kind === 'oauth'
        ? oauthClientCredentials({
            clientId: auth.clientId,
            clientSecret: auth.clientSecret,
            audience: auth.audience,
            tokenUrl: auth.tokenUrl,
            allowPlaintextTokenUrl: config.allowPlaintextCredentials,
            requestTimeoutMs: auth.tokenTimeoutMs,
            // --token-timeout is the whole wait (docs/cli.md), retries of a 5xx or a timeout included.
            retryBudgetMs: auth.tokenTimeoutMs,
          })
        : undefined;
  // The metrics count the token endpoint's failures (athena.client.token.failures).
  const tokenProvider = typeof given === 'object' && options.observeToken ? options.observeToken(given) : given;
  let rootCerts: Buffer | undefined;
  if (config.caFile) {
    try {
      rootCerts = readFileSync(resolve(io.cwd, config.caFile));
    } catch (err) {
      throw new UsageError(`--ca-file: cannot read '${config.caFile}' (${messageOf(err)})`);
    }
  }
  let credentials;
  try {
    credentials = config.secure
      ? tls({ rootCerts, token: tokenProvider })
      : insecure(tokenProvider, { allowPlaintextToken: config.allowPlaintextCredentials });
  } catch (err) {
    // tls() refuses roots that are not PEM; grpc-js would ignore them and trust the system's.
    if (rootCerts && /rootCerts/.test(messageOf(err))) {
      throw new UsageError(`--ca-file '${config.caFile}' ${messageOf(err).replace(/^tls: rootCerts /, '')}`);
    }
    throw err;
  }
  const client = createAthenaClient({
    address: config.address,
    credentials,
    affiliate: config.affiliate,
    deploymentId: config.deploymentId,
  });
  let closed = false;
  return {
    client,
    address: config.address,
    token: credentials.token,
    close: async () => {
      if (!closed) client.close();
      closed = true;
    },
  };
}

/** Resolves and connects in one step, for the commands. */
export function connectFromFlags(flags: Flags, io: CliIo): Promise<Connection> {
  return connect(resolveConnection(flags, io.env), io);
}
