/**
 * TLS to an IP address sends no server name (issue 15): Node prints DEP0123 to the user's stderr
 * when a TLS server name is an IP (RFC 6066 forbids it), and grpc-js sets one from the address.
 * Node warns once per process, so each case runs in a child process of its own.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtDist } from '../helpers/builtDist';
import { selfSignedCert } from '../helpers/selfSignedCert';

/**
 * For each certificate given (cert and key files, in turn): a TLS server with it, and one
 * ListDeployments call to 127.0.0.1 through createAthenaClient. Prints the outcomes as JSON.
 * The child loads the library as built once for the run (test/helpers/builtDist.ts, in `dist`):
 * transpiling the sources it loads itself (a TypeScript require hook) cost it some 1.5 CPU-s.
 */
const childScript = (dist: string) => `
const fs = require('node:fs');
const { startAthenaServer } = require(${JSON.stringify(path.join(dist, 'cjs/testing/index.js'))});
const { createAthenaClient, tls } = require(${JSON.stringify(path.join(dist, 'cjs/transport/index.js'))});
(async () => {
  const outcomes = [];
  for (let i = 1; i < process.argv.length; i += 2) {
    const [cert, key] = [fs.readFileSync(process.argv[i]), fs.readFileSync(process.argv[i + 1])];
    const server = await startAthenaServer({ tls: { cert, key } });
    const client = createAthenaClient({ address: '127.0.0.1:' + server.port, credentials: tls({ rootCerts: cert }) });
    outcomes.push(await client.listDeployments({ deadline: 10000 }).then(() => 'ok', (e) => e.code));
    client.close();
    await server.stop();
  }
  process.stdout.write(JSON.stringify(outcomes));
})();
`;

/** Runs the child with a certificate for each of `sans` (openssl `subjectAltName` values). */
async function callsOverTls(sans: string[]): Promise<{ outcomes: string[]; stderr: string }> {
  const dist = await builtDist();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-sni-'));
  try {
    const files = sans.flatMap((san, k) => {
      const [cert, key] = [path.join(dir, `cert${k}.pem`), path.join(dir, `key${k}.pem`)];
      const made = selfSignedCert(san, 'athena-test');
      fs.writeFileSync(cert, made.cert);
      fs.writeFileSync(key, made.key);
      return [cert, key];
    });
    const child = spawnSync(process.execPath, ['-e', childScript(dist), ...files], { encoding: 'utf8', timeout: 30_000 });
    return { outcomes: JSON.parse(child.stdout || '[]') as string[], stderr: child.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('TLS to an IP address (issue 15: no DEP0123)', () => {
  it('a certificate for the IP is trusted and one for another name refused (checked against the IP), and Node prints no DEP0123 warning', async () => {
    const { outcomes, stderr } = await callsOverTls(['IP:127.0.0.1', 'DNS:elsewhere.example']);
    expect(outcomes).toEqual(['ok', 'UNAVAILABLE']);
    expect(stderr).not.toMatch(/DEP0123|ServerName/);
  }, 120_000); // the shared build may still be in the making (a clean clone)
});
