import type * as grpc from '@grpc/grpc-js';
import { classifierServiceDefinition } from '../contract/load';
import { AuditLog, type AuditRecord } from './audit';
import { Authorizer } from './auth';
import type { Clock } from './clock';
import { ClassifyStreams } from './classifyStreams';
import type { ServerContext } from './context';
import { Delays } from './delays';
import { Deployments, type DeploymentInfo } from './deployment';
import { FaultState, type Faults } from './faults';
import { Limiter } from './limiter';
import { createGrpcServer, listen } from './listen';
import { resolveOptions, SERVER_DEFAULTS, type AthenaServerOptions } from './options';
import { classifySingleHandler, listDeploymentsHandler } from './unary';

export { SERVER_DEFAULTS };
export type { AthenaServerOptions, AuditRecord, DeploymentInfo };

/** A running in-process server, with handles for tests. */
export interface AthenaTestServer {
  /** `host:port`, ready for a client's address option. */
  readonly address: string;
  readonly port: number;
  /**
   * Ends open `Classify` streams with `UNAVAILABLE` ("server stopping"), lets calls finish, and
   * closes remaining connections after a short grace (1 s). Safe to call twice.
   */
  stop(): Promise<void>;
  readonly clock: Clock;
  readonly faults: Faults;
  /** One record per image answered, oldest first (bounded by `auditLimit`). */
  readonly audit: readonly AuditRecord[];
  deployments(): DeploymentInfo[];
  /** Purges expired responses and idle deployments now. Runs by itself on a timer (real clock) or on each `ManualClock.advance`. */
  sweep(): void;
}

function createContext(options: AthenaServerOptions): ServerContext {
  const o = resolveOptions(options);
  const faults = new FaultState();
  const delays = new Delays();
  faults.onLatencyChange = (ms) => delays.shortenTo(ms);
  return {
    options: o,
    clock: o.clock,
    faults,
    audit: new AuditLog(o.clock, o.auditLimit),
    auth: new Authorizer(o.tokens, faults),
    deployments: new Deployments(o.clock, o),
    delays,
    input: {
      maxImageBytes: o.maxImageBytes,
      maxDecodedBytes: o.maxDecodedBytes,
      decodeSlots: new Limiter(o.decodeConcurrency),
      knownMd5: o.knownMd5,
      knownSha1: o.knownSha1,
      faults,
    },
    unary: { running: 0 },
    lifecycle: { stopping: false },
  };
}

/** Sweeps on every `ManualClock.advance`, or on a real-time timer for a clock without `onAdvance`. */
function scheduleSweeps(ctx: ServerContext): () => void {
  const sweep = () => ctx.deployments.sweep();
  const unsubscribe = ctx.clock.onAdvance?.(sweep);
  if (unsubscribe) return unsubscribe;
  const timer = setInterval(sweep, Math.min(60_000, ctx.options.responseTtlMs, ctx.options.deploymentIdleMs));
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Starts an in-process Athena-compatible gRPC server: the three RPCs of the contract, its
 * validation rules, deployments with competing consumers and backlog, token checks, the benign
 * classifier, audit records and fault injection.
 *
 * Use it in your own tests to run a client against real gRPC on loopback without the live
 * service; advance a `ManualClock` to test expiry.
 *
 * @example
 * const server = await startAthenaServer({ clock: new ManualClock() });
 * // ... point a client at server.address (plaintext) ...
 * server.faults.modelErrorFor(['img-3'], 1); // first attempt of img-3 fails, its retry succeeds
 * await server.stop();
 *
 * @param options see {@link AthenaServerOptions}; every field is optional.
 * @throws AthenaTestingError `INVALID_OPTION` for a bad option, `BIND_FAILED` when it cannot listen.
 */
export async function startAthenaServer(options: AthenaServerOptions = {}): Promise<AthenaTestServer> {
  const ctx = createContext(options);
  const streams = new ClassifyStreams(ctx);
  const server = createGrpcServer(ctx.options);
  server.addService(classifierServiceDefinition(), {
    Classify: streams.handle,
    ClassifySingle: classifySingleHandler(ctx),
    ListDeployments: listDeploymentsHandler(ctx),
  } as grpc.UntypedServiceImplementation);
  const { address, port } = await listen(server, ctx.options);
  const stopSweeps = scheduleSweeps(ctx);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= new Promise<void>((resolve) => {
      ctx.lifecycle.stopping = true;
      stopSweeps();
      ctx.delays.stop();
      streams.stopAll();
      const force = setTimeout(() => server.forceShutdown(), SERVER_DEFAULTS.stopGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }));

  return {
    address,
    port,
    stop,
    clock: ctx.clock,
    faults: ctx.faults,
    audit: ctx.audit.records,
    deployments: () => ctx.deployments.list().map((d) => d.info()),
    sweep: () => ctx.deployments.sweep(),
  };
}
