import * as zlib from 'node:zlib';
import sharp from 'sharp';
import type { ClassificationInput, ClassificationOutput } from '../../src/contract/messages';
import { startAthenaServer, ManualClock, benignClassify, type AthenaTestServer } from '../../src/testing';
import { classifySingle, listDeployments, makeClient, openStream, rawImage, rawInput, type RawClient } from './helpers';

/**
 * Brotli at quality 5: for these inputs (noise, zeros) as small as the default 11 gives, which
 * spent a quarter of a CPU-second on each.
 */
const brotli = (data: Buffer): Buffer => zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 10 } } })
    .png()
    .toBuffer();
}

describe('in-process server: RPCs and validation (contract sections 1, 2, 4)', () => {
  let server: AthenaTestServer;
  let client: RawClient;
  beforeAll(async () => {
    server = await startAthenaServer({ clock: new ManualClock(), maxImageBytes: 2_000_000, knownHashes: { md5: [MD5] } });
    client = makeClient(server.address);
  });
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  /** Sends one request on a fresh stream of a fresh deployment and returns its outputs. */
  let n = 0;
  async function classify(...inputs: Partial<ClassificationInput>[]): Promise<ClassificationOutput[]> {
    const s = openStream(client);
    s.send({ deploymentId: `dep-${++n}`, inputs });
    const r = await s.next();
    s.call.end();
    await s.status;
    expect(r.globalError).toBeNull();
    return r.outputs;
  }
  const code = (o: ClassificationOutput) => o.error?.code;

  it('Classify: one response per request, one output per input matched by correlation id (section 2)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'basics', inputs: [rawInput('a', 1), rawInput('b', 2)] });
    const r = await s.next();
    expect(r.globalError).toBeNull();
    expect(r.outputs.map((o) => o.correlationId)).toEqual(['a', 'b']);
    expect(r.outputs[0].error).toBeNull();
    expect(r.outputs[0].classifications).toEqual(benignClassify(rawImage(1)));
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it('ClassifySingle classifies one input outside any deployment (section 1)', async () => {
    const out = await classifySingle(client, rawInput('single', 3));
    expect(out.correlationId).toBe('single');
    expect(out.classifications).toEqual(benignClassify(rawImage(3)));
    expect((await listDeployments(client)).deployments.map((d) => d.deploymentId)).not.toContain('single');
  });

  it('ClassifySingle applies the per-image rules too (section 2: format required with data)', async () => {
    const out = await classifySingle(client, { affiliate: 'a', correlationId: 'x', data: rawImage(1) });
    expect(code(out)).toBe('ERROR_CODE_UNSPECIFIED');
    expect(out.error?.message).toMatch(/format is required/);
  });

  it('an empty inputs list is legal: it joins (creates) the deployment and gets no response (section 2)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'join-only', inputs: [] });
    // A request after it: its answer is the first on the stream, so the empty one got none (no
    // sleep racing the server), and the join has been handled by the time the list is asked for.
    s.send({ deploymentId: 'join-only', inputs: [rawInput('after-join', 1)] });
    const first = await s.next();
    expect(first.outputs.map((o) => o.correlationId)).toEqual(['after-join']);
    expect(s.responses).toHaveLength(1);
    const list = await listDeployments(client);
    expect(list.deployments).toContainEqual({ deploymentId: 'join-only', backlog: 0 });
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it('correlation id empty or longer than 64 characters -> ERROR_CODE_CORRELATION_ID_INVALID (section 2)', async () => {
    const outs = await classify(rawInput('', 1), rawInput('x'.repeat(65), 1), rawInput('y'.repeat(64), 1));
    expect(outs.map(code)).toEqual(['ERROR_CODE_CORRELATION_ID_INVALID', 'ERROR_CODE_CORRELATION_ID_INVALID', undefined]);
  });

  it('correlation ids unique within a deployment: a duplicate of an unanswered id -> ERROR_CODE_CORRELATION_ID_INVALID (section 2)', async () => {
    const outs = await classify(rawInput('dup', 1), rawInput('dup', 2));
    expect(outs.map(code)).toEqual([undefined, 'ERROR_CODE_CORRELATION_ID_INVALID']);
    expect(outs[1].error?.message).toMatch(/already in use/);
  });

  it('an id may be reused once its response was delivered (so retries work) (section 2, modelled)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'reuse', inputs: [rawInput('r1', 1)] });
    expect((await s.next()).outputs[0].error).toBeNull();
    s.send({ deploymentId: 'reuse', inputs: [rawInput('r1', 1)] });
    expect((await s.next()).outputs[0].error).toBeNull();
    s.call.end();
    await s.status;
  });

  it('deployment id empty or longer than 64 -> ERROR_CODE_DEPLOYMENT_ID_INVALID for every input, sent to the sender (section 2)', async () => {
    for (const deploymentId of ['', 'd'.repeat(65)]) {
      const s = openStream(client);
      s.send({ deploymentId, inputs: [rawInput('a', 1), rawInput('b', 2)] });
      const r = await s.next();
      expect(r.outputs.map(code)).toEqual(['ERROR_CODE_DEPLOYMENT_ID_INVALID', 'ERROR_CODE_DEPLOYMENT_ID_INVALID']);
      s.call.end();
      await s.status;
    }
    expect((await listDeployments(client)).deployments.map((d) => d.deploymentId)).not.toContain('');
  });

  it('invalid deployment id with no inputs -> a global_error ERROR_CODE_DEPLOYMENT_ID_INVALID (section 2, modelled)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'd'.repeat(65), inputs: [] });
    const r = await s.next();
    expect(r.globalError?.code).toBe('ERROR_CODE_DEPLOYMENT_ID_INVALID');
    expect(r.outputs).toEqual([]);
    s.call.end();
    await s.status;
  });

  it('a request needs data or hashes -> ERROR_CODE_UNSPECIFIED otherwise (section 2)', async () => {
    const [out] = await classify({ affiliate: 'a', correlationId: 'empty' });
    expect(code(out)).toBe('ERROR_CODE_UNSPECIFIED');
    expect(out.error?.message).toMatch(/neither data nor hashes/);
  });

  it('format is required whenever data is non-empty -> ERROR_CODE_UNSPECIFIED (section 2)', async () => {
    const [out] = await classify({ affiliate: 'a', correlationId: 'nofmt', data: rawImage(1) });
    expect(code(out)).toBe('ERROR_CODE_UNSPECIFIED');
    expect(out.error?.message).toMatch(/format is required/);
  });

  it('data above the configured size limit -> ERROR_CODE_IMAGE_TOO_LARGE (section 2)', async () => {
    const [out] = await classify({ affiliate: 'a', correlationId: 'big', format: 'IMAGE_FORMAT_PNG', data: Buffer.alloc(2_000_001) });
    expect(code(out)).toBe('ERROR_CODE_IMAGE_TOO_LARGE');
    expect(out.error?.message).toMatch(/2000001 bytes/);
  });

  it('RAW_UINT8_BGR must be exactly 602,112 bytes -> ERROR_CODE_IMAGE_TOO_LARGE saying the size (section 2)', async () => {
    const [short, long] = await classify(
      { affiliate: 'a', correlationId: 's', format: 'IMAGE_FORMAT_RAW_UINT8_BGR', data: Buffer.alloc(602_111) },
      { affiliate: 'a', correlationId: 'l', format: 'IMAGE_FORMAT_RAW_UINT8_BGR', data: Buffer.alloc(602_113) },
    );
    expect([code(short), code(long)]).toEqual(['ERROR_CODE_IMAGE_TOO_LARGE', 'ERROR_CODE_IMAGE_TOO_LARGE']);
    expect(short.error?.message).toMatch(/602111 bytes.*602112/);
  });

  it('Brotli-encoded raw pixels are decoded before the size check and classified like the raw ones (section 2)', async () => {
    const data = brotli(rawImage(5));
    const [out] = await classify({ ...rawInput('br', 5), encoding: 'REQUEST_ENCODING_BROTLI', data });
    expect(out.error).toBeNull();
    expect(out.classifications).toEqual(benignClassify(rawImage(5)));
  });

  it('Brotli that decodes to the wrong size -> IMAGE_TOO_LARGE; invalid Brotli -> ERROR_CODE_UNSPECIFIED (section 2)', async () => {
    const [wrong, bad] = await classify(
      { ...rawInput('brw'), encoding: 'REQUEST_ENCODING_BROTLI', data: zlib.brotliCompressSync(Buffer.alloc(1000)) },
      { ...rawInput('brb'), encoding: 'REQUEST_ENCODING_BROTLI', data: Buffer.from('definitely not brotli data at all') },
    );
    expect(code(wrong)).toBe('ERROR_CODE_IMAGE_TOO_LARGE');
    expect(code(bad)).toBe('ERROR_CODE_UNSPECIFIED');
    expect(bad.error?.message).toMatch(/Brotli/);
  });

  it('Brotli output is bounded: a bomb larger than the limit -> IMAGE_TOO_LARGE (section 2, size limit)', async () => {
    const bomb = brotli(Buffer.alloc(8_000_000));
    const [out] = await classify({ ...rawInput('bomb'), encoding: 'REQUEST_ENCODING_BROTLI', data: bomb });
    expect(code(out)).toBe('ERROR_CODE_IMAGE_TOO_LARGE');
  });

  it('encoded images (PNG, JPEG, WebP) that decode to 448x448 are classified (section 2)', async () => {
    const base = sharp({ create: { width: 448, height: 448, channels: 3, background: { r: 10, g: 120, b: 250 } } });
    const outs = await classify(
      { affiliate: 'a', correlationId: 'png', format: 'IMAGE_FORMAT_PNG', data: await base.clone().png().toBuffer() },
      { affiliate: 'a', correlationId: 'jpg', format: 'IMAGE_FORMAT_JPEG', data: await base.clone().jpeg().toBuffer() },
      { affiliate: 'a', correlationId: 'webp', format: 'IMAGE_FORMAT_WEBP', data: await base.clone().webp({ lossless: true }).toBuffer() },
    );
    expect(outs.map(code)).toEqual([undefined, undefined, undefined]);
    // Lossless encodings of the same pixels classify the same: BGR 250,120,10 everywhere.
    const bgr = Buffer.alloc(602_112);
    for (let i = 0; i < bgr.length; i += 3) bgr.set([250, 120, 10], i);
    expect(outs[0].classifications).toEqual(benignClassify(bgr));
    expect(outs[2].classifications).toEqual(benignClassify(bgr));
  });

  it('encoded images of any other size -> ERROR_CODE_IMAGE_TOO_LARGE (the server does not resize) (section 2)', async () => {
    const [small, large] = await classify(
      { affiliate: 'a', correlationId: 'p447', format: 'IMAGE_FORMAT_PNG', data: await png(447, 448) },
      { affiliate: 'a', correlationId: 'p896', format: 'IMAGE_FORMAT_PNG', data: await png(896, 896) },
    );
    expect([code(small), code(large)]).toEqual(['ERROR_CODE_IMAGE_TOO_LARGE', 'ERROR_CODE_IMAGE_TOO_LARGE']);
    expect(small.error?.message).toMatch(/447x448/);
  });

  it('undecodable image data -> ERROR_CODE_UNSPECIFIED, and the stream lives on (section 2: per-image problems never end the stream)', async () => {
    const s = openStream(client);
    s.send({
      deploymentId: 'junk',
      inputs: [{ affiliate: 'a', correlationId: 'j', format: 'IMAGE_FORMAT_JPEG', data: Buffer.from('not a jpeg') }],
    });
    expect((await s.next()).outputs[0].error?.code).toBe('ERROR_CODE_UNSPECIFIED');
    s.send({ deploymentId: 'junk', inputs: [rawInput('after', 1)] });
    expect((await s.next()).outputs[0].error).toBeNull();
    s.call.end();
    expect((await s.status).code).toBe(0);
  });

  it('hash-only input gets only KnownCSAM labels, 1.0 for a known hash, 0.0 otherwise (section 4)', async () => {
    const [known, unknown] = await classify(
      { affiliate: 'a', correlationId: 'h1', hashes: [{ type: 'HASH_TYPE_MD5', value: MD5 }] },
      { affiliate: 'a', correlationId: 'h2', hashes: [{ type: 'HASH_TYPE_SHA1', value: SHA1 }] },
    );
    expect(known.classifications).toEqual([{ label: 'KnownCSAM-MD5', weight: 1 }]);
    expect(unknown.classifications).toEqual([{ label: 'KnownCSAM-SHA1', weight: 0 }]);
  });

  it('data plus hashes: benign labels and the KnownCSAM label of each hash type sent (section 4)', async () => {
    const [out] = await classify(rawInput('dh', 4, { hashes: [{ type: 'HASH_TYPE_MD5', value: MD5 }] }));
    expect(out.classifications.map((c) => c.label)).toEqual([...benignClassify(rawImage(4)).map((c) => c.label), 'KnownCSAM-MD5']);
    expect(out.classifications.find((c) => c.label === 'KnownCSAM-SHA1')).toBeUndefined();
  });

  it('malformed hashes (unknown type, not lower-case hex) -> ERROR_CODE_UNSPECIFIED (section 1: ImageHash, modelled)', async () => {
    const outs = await classify(
      { affiliate: 'a', correlationId: 'hu', hashes: [{ type: 'HASH_TYPE_UNKNOWN', value: MD5 }] },
      { affiliate: 'a', correlationId: 'hx', hashes: [{ type: 'HASH_TYPE_MD5', value: MD5.toUpperCase() }] },
    );
    expect(outs.map(code)).toEqual(['ERROR_CODE_UNSPECIFIED', 'ERROR_CODE_UNSPECIFIED']);
  });

  it('a different deployment id on the same stream aborts it with INVALID_ARGUMENT (section 2)', async () => {
    const s = openStream(client);
    s.send({ deploymentId: 'first', inputs: [rawInput('f1', 1)] });
    await s.next();
    s.send({ deploymentId: 'second', inputs: [rawInput('f2', 1)] });
    const status = await s.status;
    expect(status.code).toBe(3);
    expect(status.details).toMatch(/deployment id changed/);
  });

  it('ListDeployments lists deployments with their backlog (section 1, 3)', async () => {
    const list = await listDeployments(client);
    expect(list.deployments.length).toBeGreaterThan(3);
    expect(list.deployments.every((d) => typeof d.backlog === 'number')).toBe(true);
    expect(
      server
        .deployments()
        .map((d) => d.deploymentId)
        .sort(),
    ).toEqual(list.deployments.map((d) => d.deploymentId).sort());
  });

  it('one audit record per image, with metadata and no image bytes (section 3)', async () => {
    await classify(rawInput('audited', 9, { affiliate: 'aff-x', hashes: [{ type: 'HASH_TYPE_MD5', value: MD5 }] }));
    const rec = server.audit.find((r) => r.correlationId === 'audited')!;
    expect(rec).toEqual({
      time: 0,
      deploymentId: expect.stringMatching(/^dep-/),
      affiliate: 'aff-x',
      correlationId: 'audited',
      hashes: [{ type: 'HASH_TYPE_MD5', value: MD5 }],
      byteSize: 602_112,
      outcome: 'ok',
    });
    const bad = server.audit.find((r) => r.correlationId === 'big')!;
    expect(bad.outcome).toBe('ERROR_CODE_IMAGE_TOO_LARGE');
    // No Buffer anywhere in the audit.
    const hasBytes = (v: unknown): boolean =>
      Buffer.isBuffer(v) || v instanceof Uint8Array || (typeof v === 'object' && v !== null && Object.values(v).some(hasBytes));
    expect(server.audit.some(hasBytes)).toBe(false);
  });
});
