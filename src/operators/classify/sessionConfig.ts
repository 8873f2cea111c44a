import type { SchedulerLike } from 'rxjs';
import type { CircuitBreaker } from '../../reliability/circuitBreaker';
import type { ClassifyTransport } from '../../transport/types';
import type { InFlightWindow } from '../inFlightWindow';
import type { PipelineContext } from '../pipelineContext';
import type { ReconnectPolicy } from './connection';

/** Everything a session needs, options resolved. */
export interface SessionConfig {
  readonly client: ClassifyTransport;
  readonly scheduler: SchedulerLike;
  readonly window: InFlightWindow | undefined;
  /** The link to the pipeline's retry stage; none: every failure is final. */
  readonly context: PipelineContext | undefined;
  readonly maxInFlight: number;
  readonly keepAlive: number;
  readonly responseTimeout: number;
  readonly backlogGrace: number;
  /** `dropGraceMs` (Infinity: no drop judged by time). */
  readonly dropGrace: number;
  readonly reconnect: ReconnectPolicy;
  readonly breaker: CircuitBreaker | undefined;
  readonly rotateBefore: number;
  /** `late` events: `after` ms from an image's first send, of a response `lifetime`. */
  readonly lateAfter: { readonly after: number; readonly lifetime: number };
  readonly deploymentId: string;
  readonly shared: boolean;
  readonly defaultAffiliate: string;
}
