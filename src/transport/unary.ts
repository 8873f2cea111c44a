import type * as grpc from '@grpc/grpc-js';
import { AthenaTransportError } from './errors';
import type { UnaryCallOptions } from './types';

/**
 * How {@link unaryCall} opens its call; the client supplies one for all its unary calls (as it
 * supplies a `DuplexOpener` to each `Classify` stream).
 */
export interface UnaryOpener {
  /** The error a call on a closed client fails with; undefined while the client is open. */
  closedError(): AthenaTransportError | undefined;
  /** The call's metadata (fetches the token). */
  prepare(): Promise<grpc.Metadata>;
  /** The channel to open the call on (the next one of the pool). */
  channel(): grpc.Client;
  /** Deadline of a call without one of its own, in ms. */
  readonly defaultDeadlineMs: number;
  /** Told of every failure of a call (the client drops a refused token). */
  failed(error: AthenaTransportError): void;
  /** Told when the call is open and when it is over, so that `close()` can cancel it. */
  track(call: grpc.ClientUnaryCall): () => void;
}

/**
 * One unary call as a Promise: resolves with the response, rejects with an
 * {@link AthenaTransportError} for a gRPC failure, with the signal's reason when aborted (the call
 * is cancelled), or with what `prepare()` rejected with (a token that cannot be had).
 */
export function unaryCall<Req, Res>(
  opener: UnaryOpener,
  method: grpc.MethodDefinition<Req, Res>,
  request: Req,
  options: UnaryCallOptions = {},
): Promise<Res> {
  const { signal } = options;
  // The deadline counts from now, the token fetch included.
  const deadline =
    options.deadline instanceof Date ? options.deadline : new Date(Date.now() + (options.deadline ?? opener.defaultDeadlineMs));
  return new Promise<Res>((resolve, reject) => {
    const closedBefore = opener.closedError();
    if (closedBefore) return reject(closedBefore);
    if (signal?.aborted) return reject(signal.reason);
    let call: grpc.ClientUnaryCall | undefined;
    let untrack: (() => void) | undefined;
    const onAbort = (): void => {
      call?.cancel();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      untrack?.();
    };
    opener.prepare().then(
      (md) => {
        // Aborted while the token was fetched: onAbort has rejected already, and no call opens.
        if (signal?.aborted) return done();
        const closedMeanwhile = opener.closedError();
        if (closedMeanwhile) {
          done();
          return reject(closedMeanwhile);
        }
        call = opener
          .channel()
          .makeUnaryRequest(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            md,
            { deadline },
            (error, response) => {
              done();
              if (error) {
                const transportError = AthenaTransportError.from(error);
                opener.failed(transportError);
                reject(transportError);
              } else {
                resolve(response as Res);
              }
            },
          );
        untrack = opener.track(call);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
