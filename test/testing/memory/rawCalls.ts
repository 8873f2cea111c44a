// gRPC calls written straight on node:http2, as a hostile client would: one request message,
// serialized once and written to every stream from the same Buffer, so that the test process
// holds a few megabytes however many calls it makes, and the server's memory alone is measured.
import * as http2 from 'node:http2';
import { classifierServiceDefinition } from '../../../src/contract/load';

type Method = 'Classify' | 'ClassifySingle';

/** A gRPC length-prefixed message frame of `message`, serialized as `method`'s request. */
export function grpcFrame(method: Method, message: object): Buffer {
  const body = classifierServiceDefinition()[method]!.requestSerialize(message);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** How a call ended: its `grpc-status` (from trailers or trailers-only headers), or `'reset'` for a stream reset. */
export type CallEnd = number | 'reset';

/** One HTTP/2 connection to the server. */
export interface RawConnection {
  /**
   * Opens a call, writes `frame` once `go` resolves (so that many calls can open before any sends,
   * as a client that starts them together does) and half-closes; resolves with how the call ended.
   */
  call(method: Method, frame: Buffer, go?: Promise<void>): Promise<CallEnd>;
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
        void go.then(() => stream.end(frame));
      }),
    close: () => session.destroy(),
  };
}
