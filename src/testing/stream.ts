import type * as grpc from '@grpc/grpc-js';
import type { ClassifyRequest, ClassifyResponse } from '../contract/messages';
import type { Affiliates } from './auth';
import type { Consumer, Deployment, Pending } from './deployment';

export type ClassifyCall = grpc.ServerDuplexStream<ClassifyRequest, ClassifyResponse>;

/**
 * One `Classify` call: the deployment it joined, its requests in flight, and the responses it
 * holds while its client does not read (at most `maxQueued`, so a client that never reads costs
 * a bounded amount; further responses go to other streams or the backlog).
 */
export class Stream implements Consumer {
  deployment: Deployment | undefined;
  /** The deployment id of the first request: every later request must repeat it. */
  deploymentId: string | undefined;
  queue: Pending[] = [];
  blocked = false;
  closed = false;
  halfClosed = false;
  inFlight = 0;
  /** The message count at which an injected `resetAfter` fault ends this stream. */
  resetAt: number | undefined;
  sinceArmed = 0;

  constructor(
    readonly call: ClassifyCall,
    readonly affiliates: Affiliates,
    private readonly maxQueued: number,
    /** Called when the stream drained and has room again: pull backlog, finish a half-closed stream. */
    private readonly afterDrain: (s: Stream) => void,
  ) {}

  /** A half-closed stream still takes responses: its client reads until the call ends. */
  canAccept(): boolean {
    return !this.closed && this.queue.length < this.maxQueued;
  }

  /** Writes now unless the call pushes back; then queues until `drain`. */
  push(p: Pending): void {
    if (this.blocked || this.queue.length > 0) this.queue.push(p);
    else this.write(p);
  }

  /** The responses not yet written, handed back (to the backlog) when the stream leaves. */
  takeQueue(): Pending[] {
    const queued = this.queue;
    this.queue = [];
    return queued;
  }

  private write(p: Pending): void {
    const ok = this.call.write(p.response);
    this.deployment?.release(p.ids);
    if (!ok) {
      this.blocked = true;
      this.call.once('drain', () => this.onDrain());
    }
  }

  private onDrain(): void {
    this.blocked = false;
    while (!this.blocked && !this.closed && this.queue.length > 0) this.write(this.queue.shift()!);
    if (!this.blocked && !this.closed) this.afterDrain(this);
  }
}
