// Test helpers: a plain @grpc/grpc-js client of the contract (real gRPC over loopback, no mocks).
import * as grpc from '@grpc/grpc-js';
import { classifierServiceDefinition } from '../../src/contract/load';
import type { ClassificationInput, ClassificationOutput, ClassifyResponse, ListDeploymentsResponse } from '../../src/contract/messages';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';

const ClientCtor = grpc.makeGenericClientConstructor(classifierServiceDefinition(), 'ClassifierService');
const MiB = 1024 * 1024;

export type RawClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function makeClient(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): RawClient {
  return new ClientCtor(address, credentials, {
    'grpc.max_receive_message_length': 64 * MiB,
    'grpc.max_send_message_length': 64 * MiB,
    ...options,
  }) as unknown as RawClient;
}

export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export function listDeployments(client: RawClient, metadata = new grpc.Metadata()): Promise<ListDeploymentsResponse> {
  return new Promise((resolve, reject) =>
    client.ListDeployments({}, metadata, (err: grpc.ServiceError | null, res: ListDeploymentsResponse) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

export function classifySingle(
  client: RawClient,
  input: Partial<ClassificationInput>,
  metadata = new grpc.Metadata(),
): Promise<ClassificationOutput> {
  return new Promise((resolve, reject) =>
    client.ClassifySingle(input, metadata, (err: grpc.ServiceError | null, res: ClassificationOutput) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** A request as a test writes it: fields may be left out, as proto3 allows on the wire. */
export interface OutgoingRequest {
  deploymentId?: string;
  inputs?: Partial<ClassificationInput>[];
}

export interface TestStream {
  call: grpc.ClientDuplexStream<OutgoingRequest, ClassifyResponse>;
  responses: ClassifyResponse[];
  /** Resolves with the next response not yet taken by `next()` (within 20 s by default: a bound for a loaded machine). */
  next(timeoutMs?: number): Promise<ClassifyResponse>;
  /** The final status (OK or the error). */
  status: Promise<grpc.StatusObject>;
  send(request: OutgoingRequest): boolean;
}

export function openStream(client: RawClient, metadata = new grpc.Metadata()): TestStream {
  const call = client.Classify(metadata) as TestStream['call'];
  const responses: ClassifyResponse[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  call.on('data', (r: ClassifyResponse) => {
    responses.push(r);
    waiters.splice(0).forEach((w) => w());
  });
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const next = (timeoutMs = 20_000) =>
    new Promise<ClassifyResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (taken < responses.length) {
          clearTimeout(timer);
          resolve(responses[taken++]);
        } else waiters.push(check);
      };
      check();
    });
  return { call, responses, next, status, send: (req) => call.write(req) };
}

const images = new Map<number, Buffer>();
/** A deterministic raw 448x448 BGR image (cached: callers must not modify it). */
export function rawImage(seed: number): Buffer {
  let cached = images.get(seed);
  if (!cached) images.set(seed, (cached = makeRaw(seed)));
  return cached;
}

function makeRaw(seed: number): Buffer {
  // A local name, not Math.imul in the loop: under Jest (a VM context) each lookup of the global
  // Math is a slow read on the sandbox's global (as in src/preprocess/resize.ts).
  const imul = Math.imul;
  const buf = Buffer.alloc(RAW_IMAGE_BYTES);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < buf.length; i++) {
    x = (imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = ((i % 1344) * ((seed % 5) + 1) + (x >>> 26)) & 0xff;
  }
  return buf;
}

export function rawInput(correlationId: string, seed = 1, extra: Partial<ClassificationInput> = {}): Partial<ClassificationInput> {
  return { affiliate: 'aff', correlationId, format: 'IMAGE_FORMAT_RAW_UINT8_BGR', data: rawImage(seed), ...extra };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true, within `timeoutMs` (20 s by default: a bound for a loaded machine, not an expected time). */
export async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}
