/**
 * What goes on the wire from the client, checked by a small plain grpc-js server of this test
 * (a real server that records what it receives): the metadata of every call (athena-api.md
 * section 5), the channel pool, and message sizes of a 50-image batch both ways.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { lastValueFrom, of, toArray } from 'rxjs';
import { classifierServiceDefinition } from '../../src/contract/load';
import type {
  ClassificationInput,
  ClassificationOutput,
  ClassifyRequest,
  ClassifyResponse,
  ListDeploymentsResponse,
} from '../../src/contract/messages';
import { createAthenaClient, insecure, staticToken, type AthenaGrpcClient } from '../../src/transport';
import { rawImage } from './helpers';

interface Seen {
  readonly method: string;
  readonly peer: string;
  readonly metadata: Record<string, string>;
}

async function startRecorder(): Promise<{ address: string; seen: Seen[]; stop(): Promise<void> }> {
  const seen: Seen[] = [];
  const note = (method: string, call: { getPeer(): string; metadata: grpc.Metadata }) => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = String(v);
    seen.push({ method, peer: call.getPeer(), metadata });
  };
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(classifierServiceDefinition(), {
    ListDeployments: (call: grpc.ServerUnaryCall<object, ListDeploymentsResponse>, cb: grpc.sendUnaryData<ListDeploymentsResponse>) => {
      note('ListDeployments', call);
      cb(null, { deployments: [] });
    },
    ClassifySingle: (
      call: grpc.ServerUnaryCall<ClassificationInput, ClassificationOutput>,
      cb: grpc.sendUnaryData<Partial<ClassificationOutput>>,
    ) => {
      note('ClassifySingle', call);
      cb(null, { correlationId: call.request.correlationId, classifications: [] });
    },
    // Answers each request with one output per input whose label is as long as the image, so that
    // a big batch is big both ways.
    Classify: (call: grpc.ServerDuplexStream<ClassifyRequest, Partial<ClassifyResponse>>) => {
      note('Classify', call);
      call.on('data', (request: ClassifyRequest) =>
        call.write({
          outputs: request.inputs.map((i) => ({
            correlationId: i.correlationId,
            classifications: [{ label: 'x'.repeat(i.data.length), weight: 1 }],
            error: null,
          })),
        }),
      );
      call.on('end', () => call.end());
    },
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    seen,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

const packageVersion = (JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;

describe('what the client sends', () => {
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let client: AthenaGrpcClient | undefined;
  beforeAll(async () => {
    recorder = await startRecorder();
  });
  afterAll(() => recorder.stop());
  afterEach(() => {
    client?.close();
    client = undefined;
    recorder.seen.length = 0;
  });

  it('every RPC carries authorization, x-client-language and x-client-version (section 5)', async () => {
    client = createAthenaClient({ address: recorder.address, credentials: insecure(staticToken('tok-123')) });
    await client.listDeployments();
    await client.classifySingle({ correlationId: 'm-1' });
    await lastValueFrom(client.classify(of({ deploymentId: 'd', inputs: [] })).pipe(toArray()));
    expect(recorder.seen.map((s) => s.method)).toEqual(['ListDeployments', 'ClassifySingle', 'Classify']);
    for (const s of recorder.seen) {
      expect(s.metadata).toMatchObject({
        authorization: 'Bearer tok-123',
        'x-client-language': 'typescript',
        'x-client-version': packageVersion,
      });
      expect(s.metadata['user-agent']).toContain(`athena-rx/${packageVersion}`);
    }
  });

  it('without a token there is no authorization header; clientVersion overrides the version', async () => {
    client = createAthenaClient({ address: recorder.address, credentials: insecure(), clientVersion: '9.9.9-test' });
    await client.listDeployments();
    expect(recorder.seen[0]?.metadata.authorization).toBeUndefined();
    expect(recorder.seen[0]?.metadata['x-client-version']).toBe('9.9.9-test');
  });

  it('one channel by default: every call shares one connection', async () => {
    client = createAthenaClient({ address: recorder.address, credentials: insecure() });
    for (let i = 0; i < 4; i++) await client.listDeployments();
    expect(new Set(recorder.seen.map((s) => s.peer)).size).toBe(1);
    expect(client.channelCount).toBe(1);
  });

  it('channels: 3 opens three connections and takes them in turn, per call', async () => {
    client = createAthenaClient({ address: recorder.address, credentials: insecure(), channels: 3 });
    for (let i = 0; i < 6; i++) await client.listDeployments();
    await lastValueFrom(client.classify(of({ deploymentId: 'd', inputs: [] })).pipe(toArray()));
    const peers = recorder.seen.map((s) => s.peer);
    expect(new Set(peers).size).toBe(3);
    expect(peers.slice(3, 6)).toEqual(peers.slice(0, 3));
    expect(peers[6]).toBe(peers[0]);
  });

  it('rejects a pool size that is not a positive integer', () => {
    expect(() => createAthenaClient({ address: recorder.address, credentials: insecure(), channels: 0 })).toThrow(RangeError);
  });

  it('a batch of 50 raw images (about 30 MB) passes both ways with the default channel options (section 5)', async () => {
    client = createAthenaClient({ address: recorder.address, credentials: insecure() });
    const inputs = Array.from({ length: 50 }, (_, i) => rawImage(`big-${i}`) as ClassificationInput);
    const [response] = await lastValueFrom(client.classify(of({ deploymentId: 'big', inputs })).pipe(toArray()));
    expect(response?.outputs).toHaveLength(50);
    expect(response?.outputs[49]?.classifications[0]?.label.length).toBe(602_112);
  });

  it('a too small receive limit set in channelOptions is honoured, and fails with RESOURCE_EXHAUSTED, not retryable', async () => {
    client = createAthenaClient({
      address: recorder.address,
      credentials: insecure(),
      channelOptions: { 'grpc.max_receive_message_length': 1024 * 1024 },
    });
    const inputs = Array.from({ length: 3 }, (_, i) => rawImage(`lim-${i}`) as ClassificationInput);
    const error = await lastValueFrom(client.classify(of({ deploymentId: 'lim', inputs }))).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AthenaTransportError', code: 'RESOURCE_EXHAUSTED', retryable: false });
  });
});
