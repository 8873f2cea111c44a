import { selfSignedCert } from '../helpers/selfSignedCert';
import * as grpc from '@grpc/grpc-js';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { bearer, classifySingle, listDeployments, makeClient, openStream, rawInput, type RawClient } from './helpers';

describe('in-process server: tokens and affiliates (contract sections 2, 5)', () => {
  let server: AthenaTestServer;
  let client: RawClient;
  beforeAll(async () => {
    server = await startAthenaServer({ tokens: { 'tok-a': ['aff-a'], 'tok-any': '*' } });
    client = makeClient(server.address);
  });
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it('a call without a bearer token gets UNAUTHENTICATED, on every RPC (section 5)', async () => {
    await expect(listDeployments(client)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(classifySingle(client, rawInput('x'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const s = openStream(client);
    s.send({ deploymentId: 'd', inputs: [] });
    expect((await s.status).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('an unknown token gets UNAUTHENTICATED (section 5)', async () => {
    const status = await openStream(client, bearer('nope')).status;
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/unknown bearer token/);
  });

  it('a known token is accepted (section 5)', async () => {
    await expect(listDeployments(client, bearer('tok-a'))).resolves.toEqual({ deployments: [] });
  });

  it('an affiliate the token may not use -> one response with global_error AFFILIATE_NOT_PERMITTED and no outputs, to the sender; the stream lives on (section 2)', async () => {
    const s = openStream(client, bearer('tok-a'));
    s.send({ deploymentId: 'aff', inputs: [rawInput('ok1', 1, { affiliate: 'aff-a' }), rawInput('bad1', 1, { affiliate: 'aff-b' })] });
    const r = await s.next();
    expect(r.globalError?.code).toBe('ERROR_CODE_AFFILIATE_NOT_PERMITTED');
    expect(r.outputs).toEqual([]);
    expect(server.audit.filter((a) => a.correlationId === 'bad1' || a.correlationId === 'ok1').map((a) => a.outcome)).toEqual([
      'ERROR_CODE_AFFILIATE_NOT_PERMITTED',
      'ERROR_CODE_AFFILIATE_NOT_PERMITTED',
    ]);
    s.send({ deploymentId: 'aff', inputs: [rawInput('ok2', 1, { affiliate: 'aff-a' })] });
    expect((await s.next()).outputs[0].error).toBeNull();
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it("a '*' token may use any affiliate; ClassifySingle refuses a forbidden affiliate per image (section 2, modelled)", async () => {
    const any = await classifySingle(client, rawInput('s1', 1, { affiliate: 'whoever' }), bearer('tok-any'));
    expect(any.error).toBeNull();
    const refused = await classifySingle(client, rawInput('s2', 1, { affiliate: 'aff-z' }), bearer('tok-a'));
    expect(refused.error?.code).toBe('ERROR_CODE_AFFILIATE_NOT_PERMITTED');
  });
});

describe('in-process server: TLS (contract section 5: gRPC over TLS)', () => {
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    ({ cert, key } = selfSignedCert());
  });

  it('serves TLS when given a certificate and key; a client trusting it classifies (section 5)', async () => {
    const server = await startAthenaServer({ tls: { cert, key } });
    const client = makeClient(server.address, grpc.credentials.createSsl(cert), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
    });
    const out = await classifySingle(client, rawInput('tls', 1));
    expect(out.error).toBeNull();
    client.close();
    // A plaintext client cannot talk to it.
    const plain = makeClient(server.address);
    await expect(listDeployments(plain, new grpc.Metadata())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    plain.close();
    await server.stop();
  });
});
