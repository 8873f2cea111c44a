/**
 * Credentials that must not cross the network in plaintext (issue 12): a bearer token over an
 * insecure channel to another machine, and root certificates that are not PEM.
 */
import { createAthenaClient, insecure, isLoopbackAddress, staticToken, tls } from '../../src/transport';
import { InvalidOptionError } from '../../src/core/invalidOptionError';

describe('insecure() with a token is for loopback unless allowPlaintextToken says otherwise', () => {
  it.each(['10.1.2.3:50051', 'athena.example.com:443', '[2001:db8::1]:50051', '0.0.0.0:50051'])(
    'refuses a token in plaintext to %s',
    (address) => {
      expect(() => createAthenaClient({ address, credentials: insecure('secret-token') })).toThrow(InvalidOptionError);
      expect(() => createAthenaClient({ address, credentials: insecure(staticToken('secret-token')) })).toThrow(
        new RegExp(
          `plaintext to ${address.replace(/[[\].]/g, '\\$&')}, which is not loopback.*allowPlaintextToken: true.*--allow-plaintext-credentials`,
        ),
      );
    },
  );

  it.each(['127.0.0.1:50051', 'localhost:50051', '[::1]:50051', '127.8.9.10:1', 'unix:/tmp/athena.sock'])(
    'allows a token in plaintext to %s',
    (address) => {
      createAthenaClient({ address, credentials: insecure('token') }).close();
    },
  );

  it('allows no token to anywhere, and a token to anywhere when explicitly allowed', () => {
    createAthenaClient({ address: '10.1.2.3:50051', credentials: insecure() }).close();
    createAthenaClient({ address: '10.1.2.3:50051', credentials: insecure('token', { allowPlaintextToken: true }) }).close();
  });

  it('isLoopbackAddress', () => {
    expect(isLoopbackAddress('127.0.0.1:1')).toBe(true);
    expect(isLoopbackAddress('localhost')).toBe(true);
    expect(isLoopbackAddress('128.0.0.1:1')).toBe(false);
    expect(isLoopbackAddress('localhost.evil.example:1')).toBe(false);
    expect(isLoopbackAddress('127.0.0.1.nip.io:1')).toBe(false);
    // Resolved through DNS where nsswitch says `files dns`: not loopback by its name.
    expect(isLoopbackAddress('evil.localhost:1')).toBe(false);
    expect(isLoopbackAddress('[::1]:1')).toBe(true);
    expect(isLoopbackAddress('127.255.0.9:1')).toBe(true);
  });
});

describe('tls() refuses certificates and keys that are not PEM', () => {
  it('rootCerts in DER, as text that is no certificate, or empty: InvalidOptionError naming the option', () => {
    expect(() => tls({ rootCerts: Buffer.from([0x30, 0x82, 0x01, 0x0a]) })).toThrow(/tls: rootCerts is DER \(binary\), not PEM/);
    expect(() => tls({ rootCerts: 'hello' })).toThrow(
      /tls: rootCerts is not PEM: expected PEM text with a -----BEGIN CERTIFICATE----- line/,
    );
    expect(() => tls({ rootCerts: '' })).toThrow(InvalidOptionError);
    expect(() => tls({ privateKey: 'x', certChain: '-----BEGIN CERTIFICATE-----\n' })).toThrow(/privateKey is not PEM/);
  });
});
