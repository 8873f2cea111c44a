import type { Subscription } from 'rxjs';
import { callUser, THREW, type ErrorSink } from '../../core/guard';
import type { ClassifyTransport } from '../../transport/types';
import type { StreamConnection } from './connection';
import { rotationDelay } from './watch';

/** What token rotation needs of its session. */
export interface RotationDeps {
  readonly transport: ClassifyTransport;
  /** How long ahead of the token's expiry a stream is replaced (see {@link rotationDelay}). */
  readonly rotateBefore: number;
  /** Where a throw of the caller's `credentialExpiresAt` goes (the session's subscriber). */
  readonly sink: ErrorSink;
  readonly now: () => number;
  /** Schedules `work` after `delay` ms, hung off the session's one Subscription. */
  readonly after: (delay: number, work: () => void) => Subscription;
  /** Opens the fresh stream that takes over from `old`, if `old` is still the one the session sends on. */
  readonly replace: (old: StreamConnection) => void;
}

/**
 * Token expiry: a fresh stream before the old one's token runs out. Kept apart from the session
 * because it has state of its own (which stream is armed, which are retired) that nothing else
 * reads: retired streams are half-closed and kept here until they end, still delivering their
 * answers, so that teardown can close them.
 */
export class TokenRotation {
  private readonly retired = new Set<StreamConnection>();
  /** The stream whose rotation is scheduled (armed on its first answer). */
  private armedFor: StreamConnection | undefined;

  constructor(private readonly deps: RotationDeps) {}

  /**
   * Schedules the rotation of `stream`, on its first answer: by then the client has fetched the
   * token the stream carries, so `credentialExpiresAt()` is that token's (asking at open would
   * see the previous token's, and rotate at once).
   */
  answered(stream: StreamConnection): void {
    if (this.armedFor === stream) return;
    this.armedFor = stream;
    const { transport, sink, now, after, rotateBefore, replace } = this.deps;
    const expiresAt = callUser(sink, () => transport.credentialExpiresAt?.());
    const delay = expiresAt === THREW ? undefined : rotationDelay(expiresAt, now(), rotateBefore);
    if (delay !== undefined) after(delay, () => replace(stream));
  }

  /** Half-closes `old`, replaced: the server ends it once it has written its answers. */
  retire(old: StreamConnection): void {
    this.retired.add(old);
    old.end();
  }

  /** A retired stream ended (the session decides what its unanswered images need). */
  ended(stream: StreamConnection): void {
    this.retired.delete(stream);
  }

  /** Teardown: closes every retired stream still open. */
  close(): void {
    for (const old of this.retired) old.close();
    this.retired.clear();
  }
}
