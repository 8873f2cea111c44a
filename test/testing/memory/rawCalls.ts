// gRPC calls written straight on node:http2, as a hostile client would. A request is written as
// pieces that share the image buffers (`grpcFrame`), so that the test process holds a few megabytes
// however many calls it makes, spends its CPU on sending rather than on copying images into each
// request, and the server's memory alone is measured.
import * as http2 from 'node:http2';
import { classifierServiceDefinition } from '../../../src/contract/load';

type Method = 'Classify' | 'ClassifySingle';

/** A ClassificationInput as the tests send it: its image bytes in `data`. */
export interface RawInput {
  affiliate: string;
  correlationId: string;
  encoding: string;
  format: string;
  data: Buffer;
}

/** A ClassifyRequest as the tests send it. */
export interface RawRequest {
  deploymentId: string;
  inputs: RawInput[];
}

/**
 * A gRPC length-prefixed message as the pieces to write in turn; their concatenation is byte for
 * byte what serializing the whole message gives (protobuf writes fields in field-number order).
 */
export type Frame = readonly Buffer[];

/** Protobuf's base-128 varint. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) bytes.push((n % 0x80) | 0x80);
  bytes.push(n);
  return Buffer.from(bytes);
}

/** A length-delimited field (wire type 2): tag and length, then the content's pieces. */
function delimited(field: number, content: Buffer[]): Buffer[] {
  const length = content.reduce((n, b) => n + b.length, 0);
  return [Buffer.concat([varint((field << 3) | 2), varint(length)]), ...content];
}

/**
 * A ClassificationInput's encoding in pieces: the fields before `data` (1-3), `data` (4) as the
 * image's own buffer, and those after it (5), each serialized by the contract's own serializer.
 */
function inputPieces({ data, format, ...before }: RawInput): Buffer[] {
  const serialize = classifierServiceDefinition().ClassifySingle!.requestSerialize;
  return [serialize(before), ...delimited(4, [data]), serialize({ format })];
}

/** A ClassifyRequest's encoding in pieces: its deployment id, then each input as a length-delimited field 2. */
function requestPieces({ deploymentId, inputs }: RawRequest): Buffer[] {
  const serialize = classifierServiceDefinition().Classify!.requestSerialize;
  return [serialize({ deploymentId, inputs: [] }), ...inputs.flatMap((input) => delimited(2, inputPieces(input)))];
}

/** A gRPC length-prefixed message frame of `message`, serialized as `method`'s request. */
export function grpcFrame(method: 'ClassifySingle', message: RawInput): Frame;
export function grpcFrame(method: 'Classify', message: RawRequest): Frame;
export function grpcFrame(method: Method, message: RawInput | RawRequest): Frame {
  const body = method === 'ClassifySingle' ? inputPieces(message as RawInput) : requestPieces(message as RawRequest);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(
    body.reduce((n, b) => n + b.length, 0),
    1,
  );
  return [header, ...body];
}

/** How a call ended: its `grpc-status` (from trailers or trailers-only headers), or `'reset'` for a stream reset. */
export type CallEnd = number | 'reset';

/** One HTTP/2 connection to the server. */
export interface RawConnection {
  /**
   * Opens a call, writes `frame`'s pieces once `go` resolves (so that many calls can open before any sends,
   * as a client that starts them together does) and half-closes; resolves with how the call ended.
   */
  call(method: Method, frame: Frame, go?: Promise<void>): Promise<CallEnd>;
  /** The SETTINGS_MAX_CONCURRENT_STREAMS the server announced. */
  readonly maxConcurrentStreams: number | undefined;
  close(): void;
}

/** Connects and waits for the server's SETTINGS (a client that honours them, as grpc-js and browsers do). */
export async function rawConnect(address: string): Promise<RawConnection> {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return {
    maxConcurrentStreams: session.remoteSettings.maxConcurrentStreams,
    call: (method, frame, go = Promise.resolve()) =>
      new Promise<CallEnd>((resolve) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `/athena.ClassifierService/${method}`,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let status: CallEnd = 'reset';
        const read = (headers: http2.IncomingHttpHeaders): void => {
          const s = headers['grpc-status'];
          if (typeof s === 'string') status = Number(s);
        };
        stream.on('response', read);
        stream.on('trailers', read);
        stream.on('data', () => {}); // answers are read and dropped
        stream.on('error', () => {});
        stream.on('close', () => resolve(status));
        void go.then(() => {
          for (const piece of frame) stream.write(piece);
          stream.end();
        });
      }),
    close: () => session.destroy(),
  };
}
