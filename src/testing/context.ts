import type { AuditLog } from './audit';
import type { Authorizer } from './auth';
import type { InputContext } from './classifyInput';
import type { Clock } from './clock';
import type { Delays } from './delays';
import type { Deployments } from './deployment';
import type { FaultState } from './faults';
import type { ResolvedOptions } from './options';

/** What the parts of the server share: options, state and the services each handler needs. */
export interface ServerContext {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly faults: FaultState;
  readonly audit: AuditLog;
  readonly auth: Authorizer;
  readonly deployments: Deployments;
  readonly delays: Delays;
  /** What `classifyInput` needs per image. */
  readonly input: InputContext;
  /** `ClassifySingle` calls being handled now (bounded by `maxConcurrentUnary`). */
  readonly unary: { running: number };
  /** Set once `stop()` was called: new calls are refused, answers no longer delivered. */
  readonly lifecycle: { stopping: boolean };
}
