// @ts-check
/**
 * How every example reaches a server: the real service (or any Athena server) when ATHENA_ADDRESS
 * is set, otherwise the embedded in-process test server from `athena-rx/testing`, so that the
 * examples run from a clean clone with no account.
 *
 * Environment (the same variables as the `athena-rx` command line):
 *   ATHENA_ADDRESS        host:port, e.g. api.athena-risk-intelligence.com:443
 *   ATHENA_CLIENT_ID      OAuth client credentials ...
 *   ATHENA_CLIENT_SECRET  ... (both, or ATHENA_TOKEN)
 *   ATHENA_AUDIENCE       default crisp-athena-live
 *   ATHENA_TOKEN_URL      default https://crispthinking.auth0.com/oauth/token
 *   ATHENA_TOKEN          a static bearer token instead of client credentials
 *   ATHENA_AFFILIATE      sent with every image
 *   ATHENA_DEPLOYMENT_ID  join this deployment (default: a fresh one per pipeline)
 *   ATHENA_INSECURE=1     plaintext, for a local `athena-rx serve` (the CLI's --insecure)
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAthenaClient, insecure, oauthClientCredentials, tls } from 'athena-rx';
import { startAthenaServer } from 'athena-rx/testing';

/**
 * @typedef {object} Connection
 * @property {import('athena-rx').AthenaGrpcClient} client
 * @property {string} address
 * @property {boolean} embedded true when the embedded test server answers (benign, meaningless weights)
 * @property {() => Promise<void>} close closes the client, and stops the embedded server if any
 */

/**
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Promise<Connection>}
 */
export async function connect(env = process.env) {
  const value = (/** @type {string} */ name) => (env[name] ? env[name] : undefined);
  const affiliate = value('ATHENA_AFFILIATE');
  const deploymentId = value('ATHENA_DEPLOYMENT_ID');
  const address = value('ATHENA_ADDRESS');

  if (!address) {
    const server = await startAthenaServer();
    process.stderr.write(`no ATHENA_ADDRESS: using the embedded test server at ${server.address} (benign classifier)\n`);
    const client = createAthenaClient({ address: server.address, credentials: insecure(), affiliate, deploymentId });
    return {
      client,
      address: server.address,
      embedded: true,
      close: async () => {
        client.close();
        await server.stop();
      },
    };
  }

  const clientId = value('ATHENA_CLIENT_ID');
  const clientSecret = value('ATHENA_CLIENT_SECRET');
  const token =
    clientId && clientSecret
      ? oauthClientCredentials({ clientId, clientSecret, audience: value('ATHENA_AUDIENCE'), tokenUrl: value('ATHENA_TOKEN_URL') })
      : value('ATHENA_TOKEN');
  // As the command line reads it: 1, true or yes (any case) for plaintext.
  const plaintext = ['1', 'true', 'yes'].includes((value('ATHENA_INSECURE') ?? '').trim().toLowerCase());
  if (!token && !plaintext) {
    throw new Error(
      'ATHENA_ADDRESS is set but no credentials: set ATHENA_CLIENT_ID and ATHENA_CLIENT_SECRET (or ATHENA_TOKEN), or ATHENA_INSECURE=1 for a local server',
    );
  }
  const credentials = plaintext ? insecure(token) : tls({ token });
  const client = createAthenaClient({ address, credentials, affiliate, deploymentId });
  return {
    client,
    address,
    embedded: false,
    close: async () => client.close(),
  };
}

/**
 * A short JSON summary of a result, the same shape in every example: what a program downstream
 * (a queue, a database, an HTTP client) would store.
 *
 * @param {import('athena-rx').ClassificationResult<unknown>} result
 */
export function summarize(result) {
  const base = { ref: result.ref, correlationId: result.correlationId, attempts: result.attempts };
  return result.kind === 'success'
    ? { ...base, kind: result.kind, classifications: result.classifications }
    : { ...base, kind: result.kind, code: result.code, message: result.message, retryable: result.retryable, stage: result.stage };
}

/**
 * Whether this module is the program node was started with (then the example runs its `main`).
 *
 * @param {string} url `import.meta.url` of the module asking
 */
export function isMain(url) {
  return process.argv[1] !== undefined && fileURLToPath(url) === resolve(process.argv[1]);
}
