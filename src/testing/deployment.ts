import type { ClassifyResponse } from '../contract/messages';
import type { Clock } from './clock';

/** A response on its way to a client, with the correlation ids it releases once written. */
export interface Pending {
  readonly response: ClassifyResponse;
  readonly at: number;
  readonly ids: readonly string[];
}

/** What a deployment needs of a joined stream. */
export interface Consumer {
  /** Whether it takes one more response now. */
  canAccept(): boolean;
  push(p: Pending): void;
}

/** One deployment as the server sees it. */
export interface DeploymentInfo {
  deploymentId: string;
  /** Responses waiting for a stream (what `ListDeployments` reports). */
  backlog: number;
  /** `Classify` streams joined now. */
  streams: number;
  /** Responses purged undelivered so far: expired (`responseTtlMs`) or beyond `maxBacklog`. */
  purged: number;
}

/**
 * A deployment (contract section 3): the streams joined to it, which take its responses in turn
 * (competing consumers), and the backlog of responses no stream could take.
 */
export class Deployment {
  readonly streams: Consumer[] = [];
  private next = 0;
  backlog: Pending[] = [];
  /** Correlation ids being classified or waiting for delivery: a new image may not reuse them. */
  readonly outstanding = new Set<string>();
  /** Responses purged undelivered (expired or beyond the backlog bound). */
  purged = 0;
  removed = false;

  constructor(
    readonly id: string,
    public lastActivity: number,
    private readonly maxBacklog: number,
  ) {}

  /** Competing consumers: the next joined stream in turn that has room, else the backlog. */
  deliver(p: Pending): void {
    if (this.removed) return;
    const n = this.streams.length;
    for (let k = 0; k < n; k++) {
      const index = (this.next + k) % n;
      const stream = this.streams[index];
      if (stream.canAccept()) {
        this.next = (index + 1) % n;
        stream.push(p);
        return;
      }
    }
    this.backlog.push(p);
    // Bounded memory with no stream joined: the oldest waiting response goes first, as on expiry.
    if (this.backlog.length > this.maxBacklog) {
      this.release(this.backlog.shift()!.ids);
      this.purged += 1;
    }
  }

  /** Moves backlog to `stream` while it has room (on join and when it drains). */
  pump(stream: Consumer): void {
    while (this.backlog.length > 0 && stream.canAccept()) stream.push(this.backlog.shift()!);
  }

  join(stream: Consumer, now: number): void {
    this.lastActivity = now;
    this.streams.push(stream);
    this.pump(stream);
  }

  /** `stream` leaves; `unwritten` (its queue) goes back to the front of the backlog, in order. */
  leave(stream: Consumer, unwritten: Pending[], now: number): void {
    const at = this.streams.indexOf(stream);
    if (at >= 0) this.streams.splice(at, 1);
    this.lastActivity = now;
    this.backlog.unshift(...unwritten);
    for (const other of this.streams) this.pump(other);
  }

  /** Frees correlation ids for reuse (their response was written or purged). */
  release(ids: readonly string[]): void {
    for (const id of ids) this.outstanding.delete(id);
  }

  /** Purges backlog older than `ttlMs`. */
  expire(now: number, ttlMs: number): void {
    const keep = this.backlog.filter((p) => now - p.at <= ttlMs);
    if (keep.length === this.backlog.length) return;
    for (const p of this.backlog) if (now - p.at > ttlMs) this.release(p.ids);
    this.purged += this.backlog.length - keep.length;
    this.backlog = keep;
  }

  info(): DeploymentInfo {
    return { deploymentId: this.id, backlog: this.backlog.length, streams: this.streams.length, purged: this.purged };
  }
}

/** Every deployment of the server, created on first use and removed when idle or expired. */
export class Deployments {
  private readonly byId = new Map<string, Deployment>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: { readonly maxBacklog: number; readonly responseTtlMs: number; readonly deploymentIdleMs: number },
  ) {}

  /** The deployment named `id`, created now if new; its activity is refreshed either way. */
  use(id: string): Deployment {
    const now = this.clock.now();
    let d = this.byId.get(id);
    if (!d) {
      d = new Deployment(id, now, this.limits.maxBacklog);
      this.byId.set(id, d);
    }
    d.lastActivity = now;
    return d;
  }

  list(): Deployment[] {
    return [...this.byId.values()];
  }

  /** Purges expired responses and removes idle deployments with what they hold. */
  sweep(): void {
    const now = this.clock.now();
    for (const d of this.byId.values()) {
      d.expire(now, this.limits.responseTtlMs);
      if (d.streams.length === 0 && now - d.lastActivity >= this.limits.deploymentIdleMs) {
        d.removed = true;
        d.backlog = [];
        this.byId.delete(d.id);
      }
    }
  }
}
