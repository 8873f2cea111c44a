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
  /** Responses purged undelivered so far: expired (`responseTtlMs`) or beyond `maxBacklog` / `maxBacklogImages`. */
  purged: number;
}

/** Images waiting in every backlog of the server together, and what to do when there are too many. */
interface BacklogBudget {
  images: number;
  /** Called after a backlog grew: purges the oldest waiting responses of the server beyond the bound. */
  grew(): void;
}

const imagesOf = (p: Pending) => p.response.outputs.length;

/**
 * A deployment (contract section 3): the streams joined to it, which take its responses in turn
 * (competing consumers), and the backlog of responses no stream could take.
 */
export class Deployment {
  readonly streams: Consumer[] = [];
  private next = 0;
  private backlog: Pending[] = [];
  /** Correlation ids being classified or waiting for delivery: a new image may not reuse them. */
  readonly outstanding = new Set<string>();
  /** Responses purged undelivered (expired or beyond the backlog bounds). */
  purged = 0;
  removed = false;

  constructor(
    readonly id: string,
    public lastActivity: number,
    private readonly maxBacklog: number,
    private readonly budget: BacklogBudget,
  ) {}

  /** Responses waiting for a stream. */
  get backlogSize(): number {
    return this.backlog.length;
  }

  /** When the response at the front of its backlog (the next to go) arrived; `Infinity` with none. */
  get oldestAt(): number {
    return this.backlog[0]?.at ?? Infinity;
  }

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
    this.budget.images += imagesOf(p);
    // Bounded memory with no stream joined: the oldest waiting response goes first, as on expiry.
    if (this.backlog.length > this.maxBacklog) this.purgeOldest();
    this.budget.grew();
  }

  /** Drops the oldest waiting response, undelivered; its correlation ids are free again. */
  purgeOldest(): void {
    const p = this.backlog.shift();
    if (!p) return;
    this.budget.images -= imagesOf(p);
    this.release(p.ids);
    this.purged += 1;
  }

  /** Moves backlog to `stream` while it has room (on join and when it drains). */
  pump(stream: Consumer): void {
    while (this.backlog.length > 0 && stream.canAccept()) {
      const p = this.backlog.shift()!;
      this.budget.images -= imagesOf(p);
      stream.push(p);
    }
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
    for (const p of unwritten) this.budget.images += imagesOf(p);
    for (const other of this.streams) this.pump(other);
    if (unwritten.length > 0) this.budget.grew();
  }

  /** Frees correlation ids for reuse (their response was written or purged). */
  release(ids: readonly string[]): void {
    for (const id of ids) this.outstanding.delete(id);
  }

  /** Purges backlog older than `ttlMs`. */
  expire(now: number, ttlMs: number): void {
    const expired = this.backlog.filter((p) => now - p.at > ttlMs);
    if (expired.length === 0) return;
    this.backlog = this.backlog.filter((p) => now - p.at <= ttlMs);
    for (const p of expired) {
      this.budget.images -= imagesOf(p);
      this.release(p.ids);
    }
    this.purged += expired.length;
  }

  /** Removed (idle): every waiting response goes with it. */
  remove(): void {
    this.removed = true;
    for (const p of this.backlog) this.budget.images -= imagesOf(p);
    this.backlog = [];
  }

  info(): DeploymentInfo {
    return { deploymentId: this.id, backlog: this.backlog.length, streams: this.streams.length, purged: this.purged };
  }
}

/** Every deployment of the server, created on first use and removed when idle or expired. */
export class Deployments {
  private readonly byId = new Map<string, Deployment>();
  private readonly budget: BacklogBudget;

  constructor(
    private readonly clock: Clock,
    private readonly limits: {
      readonly maxBacklog: number;
      readonly maxBacklogImages: number;
      readonly responseTtlMs: number;
      readonly deploymentIdleMs: number;
      readonly maxDeployments: number;
    },
  ) {
    this.budget = { images: 0, grew: () => this.trim() };
  }

  /**
   * The deployment named `id`, created now if new; its activity is refreshed either way. A new one
   * beyond `maxDeployments` evicts the least recently used deployment without a stream; undefined
   * when every deployment has one (the caller refuses the request).
   */
  use(id: string): Deployment | undefined {
    const now = this.clock.now();
    let d = this.byId.get(id);
    if (!d) {
      if (this.byId.size >= this.limits.maxDeployments && !this.evictOne()) return undefined;
      d = new Deployment(id, now, this.limits.maxBacklog, this.budget);
      this.byId.set(id, d);
    }
    d.lastActivity = now;
    return d;
  }

  /** Removes the least recently used deployment no stream has joined; false when there is none. */
  private evictOne(): boolean {
    let victim: Deployment | undefined;
    for (const d of this.byId.values()) if (d.streams.length === 0 && (!victim || d.lastActivity < victim.lastActivity)) victim = d;
    if (!victim) return false;
    victim.purged += victim.backlogSize;
    victim.remove();
    this.byId.delete(victim.id);
    this.evicted++;
    return true;
  }

  /** Deployments evicted so far to stay within `maxDeployments`. */
  evicted = 0;

  list(): Deployment[] {
    return [...this.byId.values()];
  }

  /** Images waiting in every backlog together. */
  get backlogImages(): number {
    return this.budget.images;
  }

  /** Beyond `maxBacklogImages` the oldest waiting responses of the whole server go first, as on expiry. */
  private trim(): void {
    while (this.budget.images > this.limits.maxBacklogImages) {
      let oldest: Deployment | undefined;
      for (const d of this.byId.values()) if (d.backlogSize > 0 && (!oldest || d.oldestAt < oldest.oldestAt)) oldest = d;
      if (!oldest) return;
      oldest.purgeOldest();
    }
  }

  /** Purges expired responses and removes idle deployments with what they hold. */
  sweep(): void {
    const now = this.clock.now();
    for (const d of this.byId.values()) {
      d.expire(now, this.limits.responseTtlMs);
      if (d.streams.length === 0 && now - d.lastActivity >= this.limits.deploymentIdleMs) {
        d.remove();
        this.byId.delete(d.id);
      }
    }
  }
}
