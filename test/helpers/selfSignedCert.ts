import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh self-signed certificate and its key (PEM), made by openssl for one day: the server's
 * and the client's trust root at once in the TLS tests. `subjectAltName` defaults to the names a
 * loopback test connects by. An EC (P-256) key: openssl makes it in about 10 ms, an RSA 2048-bit
 * one in 0.2-1 s of CPU (a search for primes), and what the tests check does not depend on it.
 */
export function selfSignedCert(subjectAltName = 'IP:127.0.0.1,DNS:localhost', commonName = 'localhost'): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'athena-tls-'));
  try {
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];
    args.push('-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${subjectAltName}`, '-keyout', key, '-out', cert);
    execFileSync('openssl', args, { stdio: 'ignore' });
    return { cert: readFileSync(cert), key: readFileSync(key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
