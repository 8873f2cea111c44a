import { startAthenaServer, ManualClock, benignClassify, type AthenaTestServer } from '../../src/testing';
import { classifySingle, listDeployments, makeClient, openStream, rawImage, rawInput, type RawClient } from './helpers';

describe('in-process server: Classify basics', () => {
  let server: AthenaTestServer;
  let client: RawClient;
  beforeEach(async () => {
    server = await startAthenaServer({ clock: new ManualClock() });
    client = makeClient(server.address);
  });
  afterEach(async () => {
    client.close();
    await server.stop();
  });

  it('Classify answers one response per request with one output per input (section 2)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'dep', inputs: [rawInput('a', 1), rawInput('b', 2)] });
    const r = await s.next();
    expect(r.globalError).toBeNull();
    expect(r.outputs.map((o) => o.correlationId)).toEqual(['a', 'b']);
    expect(r.outputs[0].error).toBeNull();
    expect(r.outputs[0].classifications).toEqual(benignClassify(rawImage(1)));
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it('ClassifySingle classifies one input without a deployment (section 1)', async () => {
    const out = await classifySingle(client, rawInput('single', 3));
    expect(out.correlationId).toBe('single');
    expect(out.classifications.map((c) => c.label)).toContain('UnknownCSAM-PCSAM');
    expect((await listDeployments(client)).deployments).toEqual([]);
  });
});
