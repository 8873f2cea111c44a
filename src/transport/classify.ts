import type * as grpc from '@grpc/grpc-js';
import { Observable, type Subscription } from 'rxjs';
import type { ClassifyRequestInit, ClassifyResponse } from '../contract/messages';
import { AthenaTransportError } from './errors';
import type { ClassifyCallOptions, ClassifyWriteState } from './types';

/** A `Classify` call of grpc-js, typed with the contract's messages. */
export type ClassifyDuplex = grpc.ClientDuplexStream<ClassifyRequestInit, ClassifyResponse>;

/** How {@link duplexClassify} opens its call; the client supplies one per subscription. */
export interface DuplexOpener {
  /** Whatever must happen before the call opens (fetching the token). */
  prepare(): Promise<grpc.Metadata>;
  /** Opens the call with the prepared metadata. */
  open(metadata: grpc.Metadata): ClassifyDuplex;
  /** Told of every failure that ends a call (the client drops a refused token). */
  failed?(error: AthenaTransportError): void;
  /** Told when the call is open and when it is over, so that `close()` can cancel it. */
  track?(call: ClassifyDuplex): () => void;
}

/**
 * The duplex `Classify` call as an Observable (see `ClassifyCall`).
 *
 * Back-pressure: requests are written in order; after a `write()` that returns false, nothing more
 * is written until grpc-js emits `drain`. Requests that upstream pushes meanwhile wait, in order,
 * in a queue of this subscription. That queue is not bounded here, because an Observable cannot be
 * told to stop: the producer bounds it (the operators keep a window of requests in flight, and
 * `onWriteState` shows the queue for producers that pace themselves on it). grpc-js itself then
 * holds at most its writable high-water mark (16 messages) plus its retry buffer (1 MiB per call).
 */
export function duplexClassify(
  opener: DuplexOpener,
  requests: Observable<ClassifyRequestInit>,
  options: ClassifyCallOptions = {},
): Observable<ClassifyResponse> {
  return new Observable<ClassifyResponse>((subscriber) => {
    const queue: ClassifyRequestInit[] = [];
    let call: ClassifyDuplex | undefined;
    let untrack: (() => void) | undefined;
    let finished = false;
    let requestsDone = false;
    let halfClosed = false;
    let waitingForDrain = false;
    let written = 0;
    let flushed = 0;

    const report = (): void => {
      if (!options.onWriteState) return;
      const state: ClassifyWriteState = { written, flushed, queued: queue.length, waitingForDrain, halfClosed };
      options.onWriteState(state);
    };

    const pump = (): void => {
      if (!call || finished) return;
      let changed = false;
      while (!waitingForDrain && queue.length > 0) {
        const request = queue.shift() as ClassifyRequestInit;
        written++;
        changed = true;
        const ok = call.write(request, () => {
          flushed++;
          // After end() Node emits no 'drain'; once everything is flushed nothing is waiting.
          if (halfClosed && flushed === written) waitingForDrain = false;
          report();
        });
        if (!ok) waitingForDrain = true;
      }
      // end() queues behind buffered writes, so it need not wait for drain.
      if (requestsDone && queue.length === 0 && !halfClosed) {
        halfClosed = true;
        changed = true;
        call.end();
      }
      if (changed) report();
    };

    const fail = (error: unknown): void => {
      if (finished) return;
      const transportError = AthenaTransportError.from(error);
      opener.failed?.(transportError);
      subscriber.error(transportError);
    };

    // Subscribe to requests at once, so a hot source loses nothing while the token is fetched.
    const upstream: Subscription = requests.subscribe({
      next: (request) => {
        queue.push(request);
        pump();
        if (!call) report();
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        requestsDone = true;
        pump();
      },
    });

    if (subscriber.closed) return () => upstream.unsubscribe();
    opener.prepare().then(
      (metadata) => {
        if (finished) return;
        let opened: ClassifyDuplex;
        try {
          opened = opener.open(metadata);
        } catch (error) {
          fail(error);
          return;
        }
        call = opened;
        untrack = opener.track?.(opened);
        opened.on('data', (response: ClassifyResponse) => subscriber.next(response));
        // Kept after teardown too: cancel() makes grpc-js emit CANCELLED, which nobody then wants.
        opened.on('error', (error: unknown) => fail(error));
        opened.on('end', () => subscriber.complete());
        opened.on('drain', () => {
          waitingForDrain = false;
          report();
          pump();
        });
        pump();
      },
      (error: unknown) => {
        // Token failures arrive here as AthenaAuthError and stay that type.
        if (!finished) subscriber.error(error);
      },
    );

    return () => {
      finished = true;
      upstream.unsubscribe();
      queue.length = 0;
      // After the server's status this is a no-op; before, it cancels the call (RST_STREAM).
      call?.cancel();
      untrack?.();
    };
  });
}
