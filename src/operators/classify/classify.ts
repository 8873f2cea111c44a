import { randomUUID } from 'node:crypto';
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { MAX_ID_LENGTH } from '../../contract/messages';
import { idProblem } from '../../core/ids';
import { InvalidOptionError } from '../../core/invalidOptionError';
import { checkFunction, checkInteger, checkMethods, checkNumber, renamed } from '../../core/options';
import type { ClassifyTransport } from '../../transport/types';
import type { InFlightWindow } from '../inFlightWindow';
import { PipelineContext } from '../pipelineContext';
import type { CircuitBreaker } from '../../reliability/circuitBreaker';
import { timedReconnect, type ReconnectOptions, type ReconnectPolicy } from './connection';
import { DEFAULT_DROP_GRACE_MS } from './drops';
import type { ClassifyEvent, ClassifyItem } from './events';
import { ClassifySession } from './session';
import type { SessionConfig } from './sessionConfig';

/** Options of {@link classify}. */
export interface ClassifyOptions {
  /** The deployment to use. Default: the client's, else a fresh `athena-rx-<uuid>` of this pipeline's own. */
  readonly deploymentId?: string;
  /**
   * Whether other clients may join the deployment. Default: true when a deployment id was given
   * (here or on the client), false for the pipeline's own. When shared, images unanswered at a
   * reconnect are not sent again (their answer may have gone to another member): they end as
   * `RESPONSE_TIMEOUT` if it does not come.
   */
  readonly shared?: boolean;
  /** Affiliate for images that name none. Default: the client's, else `''`. */
  readonly affiliate?: string;
  /** The pipeline's credit gate: a credit is given back (by correlation id) when an image's final answer has left. */
  readonly window?: InFlightWindow;
  /** Most images sent and unanswered at once. Default: the window's size, else 256. */
  readonly maxInFlight?: number;
  /** An empty request after this many ms without a request (keeps the stream alive). Default 30,000. */
  readonly keepAliveMs?: number;
  /** @deprecated Renamed `keepAliveMs` (spans end in `Ms`); this name goes in the next minor version. */
  readonly keepAlive?: number;
  /** An image unanswered this many ms after its (last) send gets `RESPONSE_TIMEOUT`. Default 120,000. */
  readonly responseTimeoutMs?: number;
  /** @deprecated Renamed `responseTimeoutMs`; this name goes in the next minor version. */
  readonly responseTimeout?: number;
  /** After a reopen, how long to wait for the deployment's backlog before re-sending, ms. Default 250. */
  readonly backlogGraceMs?: number;
  /** @deprecated Renamed `backlogGraceMs`; this name goes in the next minor version. */
  readonly backlogGrace?: number;
  /**
   * With a `window`: how long the window may stay blocked on credits of images that left
   * `preprocess` but never reached `classify`, with no image arriving meanwhile, before they count
   * as dropped (a `filter` between the stages) and their credits are given back. An operator of
   * yours that holds an image back for longer (a `delay`, a slow `concatMap`) is taken for a drop
   * (then the grace is raised for the subscription, and a warning says so): set it above the longest
   * hold. `Infinity`: never judged by time, only when the source completes. Default 10,000
   * (docs/reliability.md, "Images dropped between the stages").
   */
  readonly dropGraceMs?: number;
  /**
   * When to reopen a broken stream: the outage budget's settings (default 60 s, see
   * {@link ReconnectOptions}), or a policy of your own that is told each break and returns the
   * delay or gives up.
   */
  readonly reconnect?: ReconnectOptions | ReconnectPolicy;
  /**
   * A circuit breaker in front of the transport: asked before each request, told each request's
   * outcome. While it is open nothing is sent (the window holds, so nothing more is prepared);
   * when half-open one request goes as the probe. Default none.
   */
  readonly breaker?: CircuitBreaker;
  /**
   * How long before the token's expiry (the client's `credentialExpiresAt()`) a fresh stream
   * replaces the current one, ms; capped at a quarter of the token's remaining lifetime when the
   * stream got its first answer. Default 30,000. A stream keeps the token it opened with.
   */
  readonly rotateBeforeMs?: number;
  /** @deprecated Renamed `rotateBeforeMs`; this name goes in the next minor version. */
  readonly rotateBefore?: number;
  /**
   * The service keeps an answer for `lifetimeMs` (1 hour); an image still unanswered `warnAt` of
   * it after its first send is reported by a `late` event. Default `{ lifetimeMs: 3_600_000, warnAt: 0.5 }`.
   */
  readonly responseRetention?: { readonly lifetimeMs?: number; readonly warnAt?: number };
  /**
   * @deprecated Renamed `responseRetention: { lifetimeMs, warnAt }` ("window" names only the
   * credit gate); this name goes in the next minor version.
   */
  readonly responseWindow?: { readonly lifetime?: number; readonly warnAt?: number };
  /** Jitter of reconnect delays, in [0, 1). Default `Math.random`. A throw ends the Observable with that error. */
  readonly random?: () => number;
  /**
   * The pipeline context shared with `retryByErrorCode` (see {@link PipelineContext}): the explicit
   * link that lets the retry stage send a failed image again. Default none: failures are final.
   * `classifyStages(client)` makes a `classify` and a `retryByErrorCode` that share one.
   */
  readonly context?: PipelineContext;
  /** Time of timers and timestamps. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

const DEFAULTS = {
  maxInFlight: 256,
  keepAlive: 30_000,
  responseTimeout: 120_000,
  backlogGrace: 250,
  rotateBefore: 30_000,
  lifetime: 3_600_000,
  warnAt: 0.5,
} as const;

function positive(name: string, value: number, integer = false): number {
  if (!(value >= 0) || (integer && !(Number.isInteger(value) && value >= 1))) {
    throw new InvalidOptionError(`classify: ${name} must be ${integer ? 'an integer >= 1' : 'a number >= 0'}, got ${value}`);
  }
  return value;
}

/** The options of `classify`, checked and with their defaults, except what each subscription decides. */
function resolve(
  client: ClassifyTransport,
  options: ClassifyOptions,
): Omit<SessionConfig, 'deploymentId' | 'context'> & { givenId?: string } {
  checkCollaborators(options);
  const window = options.window;
  const givenId = options.deploymentId ?? client.deploymentId;
  return {
    client,
    scheduler: options.scheduler ?? asyncScheduler,
    window,
    maxInFlight: positive('maxInFlight', options.maxInFlight ?? window?.size ?? DEFAULTS.maxInFlight, true),
    keepAlive: positive('keepAliveMs', ms('keepAliveMs', options.keepAliveMs, 'keepAlive', options.keepAlive) ?? DEFAULTS.keepAlive),
    responseTimeout: positive(
      'responseTimeoutMs',
      ms('responseTimeoutMs', options.responseTimeoutMs, 'responseTimeout', options.responseTimeout) ?? DEFAULTS.responseTimeout,
    ),
    backlogGrace: positive(
      'backlogGraceMs',
      ms('backlogGraceMs', options.backlogGraceMs, 'backlogGrace', options.backlogGrace) ?? DEFAULTS.backlogGrace,
    ),
    dropGrace: dropGrace(options.dropGraceMs),
    reconnect: isPolicy(options.reconnect)
      ? options.reconnect
      : timedReconnect(checkReconnect(options.reconnect), options.random ?? Math.random),
    breaker: options.breaker,
    rotateBefore: positive(
      'rotateBeforeMs',
      ms('rotateBeforeMs', options.rotateBeforeMs, 'rotateBefore', options.rotateBefore) ?? DEFAULTS.rotateBefore,
    ),
    lateAfter: lateAfter(options),
    shared: options.shared ?? givenId !== undefined,
    defaultAffiliate: options.affiliate ?? client.affiliate ?? '',
    ...(givenId !== undefined ? { givenId } : {}),
  };
}

function dropGrace(value: number | undefined): number {
  if (value === undefined) return DEFAULT_DROP_GRACE_MS;
  if (typeof value !== 'number' || !(value > 0))
    throw new InvalidOptionError(`classify: dropGraceMs must be a number of ms > 0 (Infinity: never), got ${String(value)}`);
  return value;
}

/** A span under its `...Ms` name or its deprecated one. */
const ms = (current: string, value: number | undefined, old: string, oldValue: number | undefined): number | undefined =>
  renamed('classify', current, value, old, oldValue);

function isPolicy(reconnect: ReconnectOptions | ReconnectPolicy | undefined): reconnect is ReconnectPolicy {
  return typeof (reconnect as Partial<ReconnectPolicy> | undefined)?.delay === 'function';
}

/** The reconnect settings under their `...Ms` names (the deprecated ones read as well), checked. */
function checkReconnect(options: ReconnectOptions | undefined): ReconnectOptions | undefined {
  if (!options) return undefined;
  const op = 'classify';
  const giveUpAfterMs = renamed(op, 'reconnect.giveUpAfterMs', options.giveUpAfterMs, 'reconnect.giveUpAfter', options.giveUpAfter);
  if (giveUpAfterMs !== undefined && !(giveUpAfterMs > 0)) {
    throw new InvalidOptionError(`classify: reconnect.giveUpAfterMs must be a number of ms > 0, got ${giveUpAfterMs}`);
  }
  const initialDelayMs = renamed(op, 'reconnect.initialDelayMs', options.initialDelayMs, 'reconnect.initialDelay', options.initialDelay);
  const maxDelayMs = renamed(op, 'reconnect.maxDelayMs', options.maxDelayMs, 'reconnect.maxDelay', options.maxDelay);
  checkInteger(op, 'reconnect.maxAttempts', options.maxAttempts, 1, true);
  checkNumber(op, 'reconnect.initialDelayMs', initialDelayMs, 0);
  checkNumber(op, 'reconnect.maxDelayMs', maxDelayMs, 0);
  return { maxAttempts: options.maxAttempts, giveUpAfterMs, initialDelayMs, maxDelayMs };
}

/** The options that are callbacks or collaborators: what they must be. */
function checkCollaborators(options: ClassifyOptions): void {
  checkFunction('classify', 'random', options.random);
  checkMethods('classify', 'scheduler', options.scheduler, ['schedule', 'now']);
  checkMethods('classify', 'window', options.window, ['giveBack', 'heldBy', 'claim', 'unclaimed']);
  checkMethods('classify', 'breaker', options.breaker, ['tryPass', 'recordSuccess', 'recordFailure']);
  if (options.context !== undefined && !(options.context instanceof PipelineContext))
    throw new InvalidOptionError(`classify: context must be a pipelineContext(), got ${String(options.context)}`);
}

/** When an unanswered image is late: `warnAt` of the response lifetime after its first send. */
function lateAfter(options: ClassifyOptions): { after: number; lifetime: number } {
  const { responseRetention: retention, responseWindow: old } = options;
  if (retention && old) throw new InvalidOptionError('classify: give responseRetention only (responseWindow is its deprecated name)');
  const name = old ? 'responseWindow' : 'responseRetention';
  const lifetime = positive(`${name}.lifetime${old ? '' : 'Ms'}`, retention?.lifetimeMs ?? old?.lifetime ?? DEFAULTS.lifetime);
  const warnAt = (retention ?? old)?.warnAt ?? DEFAULTS.warnAt;
  if (!(warnAt > 0 && warnAt <= 1)) throw new InvalidOptionError(`classify: ${name}.warnAt must be in (0, 1], got ${warnAt}`);
  return { after: lifetime * warnAt, lifetime };
}

/**
 * Sends batches of prepared images as `ClassifyRequest`s on one duplex stream per subscription and
 * emits what happens to them: `sent`, `response`, `failed` (timeout or transport given up),
 * `rejected` (items that could not be sent), `connection` and `late` events.
 *
 * Use it after `bufferBatch()` and before `correlate()`; it keeps at most `maxInFlight` images
 * unanswered, keeps the stream alive, reopens it after a transient failure without losing or
 * repeating an image, and half-closes once the source completed and every image has its answer.
 *
 * ```text
 * batches:   -[a,b]------[c]---------|
 *            classify(client)
 * events:    -s------r---s-------r---(|)      s = sent, r = response (after the server half-closes)
 * wire:      j[a,b]------[c]---------end      j = empty join request
 * ```
 *
 * With a `context` (the one of the pipeline's `retryByErrorCode`), a failure that stage will
 * retry is kept (with its window credit) until the stage has decided, however late the failure
 * reaches it: see {@link PipelineContext}. Without one, every failure is final.
 *
 * Every image leaves exactly once as an answer (`response`) or a `failed`/`rejected` event; a dead
 * transport is reported per image (`TRANSPORT_FAILED`), never as an error notification. Only
 * programming errors (an invalid deployment id, a value that is not a batch, an item that is not
 * a prepared image or a failure, a context with no retry stage subscribed: all
 * `InvalidOptionError`), a throw of the caller's transport or `random`, and an error of the source
 * are error notifications.
 *
 * @example
 * ```ts
 * const window = inFlightWindow(256);
 * inputs$.pipe(preprocess({ window }), bufferBatch(), classify(client, { window }), correlate());
 * ```
 *
 * @param client What the operator needs of a client: `classify` (a duplex call), and optional
 *   `deploymentId`/`affiliate` defaults. `createAthenaClient` returns one.
 * @param options.deploymentId Default: the client's, else `athena-rx-<uuid>` of its own.
 * @param options.shared Default true for a given deployment id, false for its own.
 * @param options.affiliate Default: the client's, else `''`.
 * @param options.window Shared credit gate; default none (then the source is not slowed down).
 * @param options.maxInFlight Default the window's size, else 256.
 * @param options.keepAliveMs Default 30,000 ms (deprecated name `keepAlive`).
 * @param options.responseTimeoutMs Default 120,000 ms (deprecated name `responseTimeout`).
 * @param options.backlogGraceMs Default 250 ms (deprecated name `backlogGrace`).
 * @param options.dropGraceMs Default 10,000 ms; `Infinity` judges no drop by time.
 * @param options.reconnect Default `{ giveUpAfterMs: 60_000, initialDelayMs: 200, maxDelayMs: 500 }`, or a `ReconnectPolicy`.
 * @param options.breaker Default none.
 * @param options.rotateBeforeMs Default 30,000 ms (deprecated name `rotateBefore`).
 * @param options.responseRetention Default `{ lifetimeMs: 3_600_000, warnAt: 0.5 }` (deprecated name `responseWindow`).
 * @param options.random Default `Math.random`.
 * @param options.context Default none (no retries); see `classifyStages`.
 * @param options.scheduler Default `asyncScheduler`.
 * @see bufferBatch
 * @see correlate
 * @see inFlightWindow
 * @see classifyImages
 */
export function classify<R = unknown>(
  client: ClassifyTransport,
  options: ClassifyOptions = {},
): OperatorFunction<readonly ClassifyItem<R>[], ClassifyEvent<R>> {
  const { givenId, ...config } = resolve(client, options);
  return (source) =>
    new Observable<ClassifyEvent<R>>((subscriber) => {
      const deploymentId = givenId ?? `athena-rx-${randomUUID()}`;
      if (idProblem('deployment id', deploymentId) !== undefined) {
        subscriber.error(new InvalidOptionError(`classify: deployment id must be 1-${MAX_ID_LENGTH} characters, got '${deploymentId}'`));
        return undefined;
      }
      const { context } = options;
      try {
        context?.attachClassify();
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      return new ClassifySession<R>({ ...config, deploymentId, context }, subscriber).start(source);
    });
}
