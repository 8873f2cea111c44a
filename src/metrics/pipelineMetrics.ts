import { metrics, type Attributes, type Meter, type ObservableResult } from '@opentelemetry/api';
import { tap, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { createCorrelateStats, type CorrelateStats } from '../operators/correlate';
import type { ClassifyEvent } from '../operators/classify';
import type { InFlightWindow } from '../operators/inFlightWindow';
import type { ClassificationEvent } from '../operators/results';
import type { CircuitBreaker, CircuitState } from '../reliability/circuitBreaker';
import { clientVersion } from '../transport/version';
import { ATTR, instrumentsOf, METER_NAME, type Instruments } from './instruments';

/** Options of {@link pipelineMetrics}. */
export interface PipelineMetricsOptions {
  /**
   * Where to record. Default `metrics.getMeter('athena-rx', version)` from `@opentelemetry/api`:
   * a no-op until the application registers a MeterProvider, as OpenTelemetry libraries do.
   */
  readonly meter?: Meter;
  /** `athena.deployment.id` until a `connection` event names the deployment. Default none. */
  readonly deploymentId?: string;
  /** `athena.affiliate` of images that name none (the client's default affiliate). Default `''`. */
  readonly affiliate?: string;
}

/** The same figures as the instruments, as plain numbers: what `--summary-file` writes. */
export interface MetricsSnapshot {
  readonly images: { succeeded: number; failed: number; byCode: Record<string, number> };
  readonly outputs: { succeeded: number; failed: number; byCode: Record<string, number> };
  readonly globalErrors: number;
  readonly preprocessFailures: Record<string, number>;
  readonly retries: number;
  readonly resends: number;
  readonly reconnects: { failure: number; rotation: number };
  readonly transportFailures: number;
  readonly lateAnswers: number;
  readonly duplicates: number;
  readonly foreign: number;
  readonly bytes: { read: number; prepared: number; sent: number };
  readonly preprocessSeconds: DurationSummary;
  readonly classifySeconds: DurationSummary;
  readonly circuitTransitions: Record<string, number>;
}

/** Count, sum and extremes of a histogram's values, in seconds. */
export interface DurationSummary {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
}

/**
 * Metrics of one pipeline. The taps read the events `classify()` and the results `correlate()`
 * already emit, so the operators themselves record nothing.
 */
export interface PipelineMetrics {
  /** Counters of `correlate()` (pass them as its `stats`): duplicates are read from here. */
  readonly correlateStats: CorrelateStats;
  /** Put between `classify()` and `correlate()`: sends, answers, reconnects, bytes, in flight. */
  tapClassifyEvents<R>(): MonoTypeOperatorFunction<ClassifyEvent<R>>;
  /** Put after `correlate()` (and `retryByErrorCode()`): one final result per image. */
  tapResults<R>(): MonoTypeOperatorFunction<ClassificationEvent<R>>;
  /** Reports `window.inUse` and `window.size` as gauges. */
  observeWindow(window: Pick<InFlightWindow, 'inUse' | 'size'>): void;
  /** Reports the breaker's state as a gauge and counts its transitions. */
  observeBreaker(breaker: CircuitBreaker): void;
  /** Records the backlog of a deployment, as a poll of `ListDeployments` found it. */
  recordBacklog(deploymentId: string, backlog: number): void;
  /** Counts an image still unanswered late in the response window. */
  recordLate(count?: number): void;
  /** The figures so far. */
  snapshot(): MetricsSnapshot;
  /** Stops the gauges' callbacks and the breaker subscription. Counters already recorded stay. */
  dispose(): void;
}

const emptyDuration = (): DurationSummary => ({ count: 0, sum: 0, min: null, max: null });
const addDuration = (d: DurationSummary, seconds: number): void => {
  d.count += 1;
  d.sum += seconds;
  d.min = d.min === null ? seconds : Math.min(d.min, seconds);
  d.max = d.max === null ? seconds : Math.max(d.max, seconds);
};
const bump = (record: Record<string, number>, key: string, n = 1): void => {
  record[key] = (record[key] ?? 0) + n;
};

/** Most ids remembered between their send and their final result (for their attributes). */
const MAX_TRACKED = 100_000;

/**
 * Creates the metrics of one pipeline: OpenTelemetry instruments (see `INSTRUMENTS`, and
 * docs/monitoring.md for the table) fed by taps on the event streams, plus the same figures as a
 * {@link MetricsSnapshot}.
 *
 * Use it when you compose the operators yourself; `classifyImages` makes one for you.
 *
 * ```text
 * events:   -S----R---F-|     classify() events, unchanged by the tap
 *           tapClassifyEvents()
 * events:   -S----R---F-|     (sent bytes, answers by code, in flight recorded on the way)
 * ```
 *
 * @example
 * ```ts
 * const m = pipelineMetrics({ deploymentId: 'my-deployment' });
 * m.observeWindow(window);
 * images$.pipe(
 *   preprocess({ window }), bufferBatch(), classify(client, { window }),
 *   m.tapClassifyEvents(), correlate({ stats: m.correlateStats }), retryByErrorCode(), m.tapResults(),
 * );
 * ```
 *
 * @param options.meter Default the global meter `athena-rx` (a no-op without an SDK).
 * @param options.deploymentId Default none.
 * @param options.affiliate Default `''`.
 */
export function pipelineMetrics(options: PipelineMetricsOptions = {}): PipelineMetrics {
  const meter = options.meter ?? metrics.getMeter(METER_NAME, clientVersion());
  const I: Instruments = instrumentsOf(meter);
  const defaultAffiliate = options.affiliate ?? '';
  let deploymentId = options.deploymentId;
  const correlateStats = createCorrelateStats();
  /** Sent and unanswered, with the attributes their answers are counted under. */
  const inFlight = new Map<string, Attributes>();
  /** Every id sent and not yet final, with its attributes and its last failed answer's code. */
  const tracked = new Map<string, { attrs: Attributes; lastFailure?: string }>();
  const snap = {
    images: { succeeded: 0, failed: 0, byCode: {} as Record<string, number> },
    outputs: { succeeded: 0, failed: 0, byCode: {} as Record<string, number> },
    globalErrors: 0,
    preprocessFailures: {} as Record<string, number>,
    retries: 0,
    resends: 0,
    reconnects: { failure: 0, rotation: 0 },
    transportFailures: 0,
    lateAnswers: 0,
    duplicates: 0,
    foreign: 0,
    bytes: { read: 0, prepared: 0, sent: 0 },
    preprocessSeconds: emptyDuration(),
    classifySeconds: emptyDuration(),
    circuitTransitions: {} as Record<string, number>,
  };
  const callbacks: Array<() => void> = [];
  const subscriptions: Subscription[] = [];

  const observe = (instrument: { addCallback(cb: (r: ObservableResult) => void): void; removeCallback(cb: (r: ObservableResult) => void): void }, cb: (r: ObservableResult) => void): void => {
    instrument.addCallback(cb);
    callbacks.push(() => instrument.removeCallback(cb));
  };
  const deploymentAttrs = (): Attributes => (deploymentId !== undefined ? { [ATTR.deployment]: deploymentId } : {});
  observe(I.inFlight, (r) => r.observe(inFlight.size));
  observe(I.duplicates, (r) => r.observe(correlateStats.duplicates));

  const track = (id: string, attrs: Attributes): { attrs: Attributes; lastFailure?: string } => {
    let t = tracked.get(id);
    if (!t) {
      if (tracked.size >= MAX_TRACKED) tracked.delete(tracked.keys().next().value as string);
      t = { attrs };
      tracked.set(id, t);
    }
    return t;
  };

  const answered = (id: string, code: string | undefined): void => {
    const attrs = inFlight.get(id);
    if (!attrs) return;
    inFlight.delete(id);
    const failed = code !== undefined;
    I.outputs.add(1, { ...attrs, [ATTR.outcome]: failed ? 'failure' : 'success', ...(failed ? { [ATTR.errorCode]: code } : {}) });
    if (failed) {
      snap.outputs.failed += 1;
      bump(snap.outputs.byCode, code);
      const t = tracked.get(id);
      if (t) t.lastFailure = code;
    } else snap.outputs.succeeded += 1;
  };

  const onEvent = <R>(event: ClassifyEvent<R>): void => {
    switch (event.kind) {
      case 'connection': {
        const named = (event as { deploymentId?: string }).deploymentId;
        if (named !== undefined) deploymentId = named;
        const reason = (event as { reason?: string }).reason === 'rotation' ? 'rotation' : 'failure';
        if (event.state === 'reconnecting' || (event.state === 'open' && reason === 'rotation')) {
          I.reconnects.add(1, { ...deploymentAttrs(), [ATTR.reason]: reason });
          snap.reconnects[reason] += 1;
        } else if (event.state === 'failed') {
          I.transportFailures.add(1, deploymentAttrs());
          snap.transportFailures += 1;
        }
        return;
      }
      case 'sent': {
        let wire = 0;
        for (const sent of event.images) {
          const { image } = sent;
          const id = image.correlationId;
          const attrs: Attributes = { ...deploymentAttrs(), [ATTR.affiliate]: image.affiliate ?? defaultAffiliate };
          const t = track(id, attrs);
          wire += image.data.length;
          if (sent.attempt <= 1) {
            I.bytes.add(image.sizes.original, { [ATTR.bytesStage]: 'read' });
            I.bytes.add(image.sizes.prepared, { [ATTR.bytesStage]: 'prepared' });
            snap.bytes.read += image.sizes.original;
            snap.bytes.prepared += image.sizes.prepared;
          } else if (t.lastFailure !== undefined) {
            I.retries.add(1, { ...deploymentAttrs(), [ATTR.errorCode]: t.lastFailure });
            snap.retries += 1;
            t.lastFailure = undefined;
          } else {
            I.resends.add(1, deploymentAttrs());
            snap.resends += 1;
          }
          inFlight.set(id, t.attrs);
        }
        I.bytes.add(wire, { [ATTR.bytesStage]: 'sent' });
        snap.bytes.sent += wire;
        return;
      }
      case 'response': {
        const { globalError, outputs } = event.response;
        if (globalError) {
          I.globalErrors.add(1, { ...deploymentAttrs(), [ATTR.errorCode]: globalError.code });
          snap.globalErrors += 1;
          for (const sent of event.request ?? []) answered(sent.image.correlationId, globalError.code);
          return;
        }
        for (const output of outputs ?? []) answered(output.correlationId, output.error?.code);
        return;
      }
      case 'failed':
        for (const sent of event.images) answered(sent.image.correlationId, event.failure.code);
        return;
      case 'rejected':
        return;
    }
  };

  const onResult = <R>(event: ClassificationEvent<R>): void => {
    if (event.kind === 'foreign') {
      I.foreign.add(1, deploymentAttrs());
      snap.foreign += 1;
      return;
    }
    const t = tracked.get(event.correlationId);
    tracked.delete(event.correlationId);
    const attrs: Attributes = t?.attrs ?? { ...deploymentAttrs(), [ATTR.affiliate]: defaultAffiliate };
    const prepareSeconds = event.timings.prepareMs / 1000;
    I.preprocessDuration.record(prepareSeconds);
    addDuration(snap.preprocessSeconds, prepareSeconds);
    if (event.timings.roundTripMs !== undefined) {
      const s = event.timings.roundTripMs / 1000;
      I.roundTrip.record(s, { ...deploymentAttrs(), [ATTR.outcome]: event.kind });
      addDuration(snap.classifySeconds, s);
    }
    if (event.kind === 'success') {
      I.images.add(1, { ...attrs, [ATTR.outcome]: 'success' });
      snap.images.succeeded += 1;
      return;
    }
    I.images.add(1, { ...attrs, [ATTR.outcome]: 'failure', [ATTR.errorCode]: event.code, [ATTR.stage]: event.stage });
    snap.images.failed += 1;
    bump(snap.images.byCode, event.code);
    if (event.stage === 'preprocess') {
      I.preprocessFailures.add(1, { [ATTR.errorCode]: event.code });
      bump(snap.preprocessFailures, event.code);
    }
  };

  const backlogs = new Map<string, number>();
  let backlogObserved = false;

  return {
    correlateStats,
    tapClassifyEvents: <R>() => tap<ClassifyEvent<R>>(onEvent),
    tapResults: <R>() => tap<ClassificationEvent<R>>(onResult),
    observeWindow(window) {
      observe(I.windowUsage, (r) => r.observe(window.inUse));
      observe(I.windowLimit, (r) => r.observe(window.size));
    },
    observeBreaker(breaker) {
      const states: CircuitState[] = ['closed', 'open', 'half-open'];
      observe(I.circuitState, (r) => {
        for (const s of states) r.observe(breaker.state === s ? 1 : 0, { [ATTR.circuitState]: s });
      });
      subscriptions.push(
        breaker.events.subscribe((e) => {
          I.circuitTransitions.add(1, { [ATTR.circuitState]: e.to });
          bump(snap.circuitTransitions, e.to);
        }),
      );
    },
    recordBacklog(id, backlog) {
      backlogs.set(id, backlog);
      if (backlogObserved) return;
      backlogObserved = true;
      observe(I.backlog, (r) => {
        for (const [d, n] of backlogs) r.observe(n, { [ATTR.deployment]: d });
      });
    },
    recordLate(count = 1) {
      I.lateAnswers.add(count, deploymentAttrs());
      snap.lateAnswers += count;
    },
    snapshot: () => ({
      ...snap,
      images: { ...snap.images, byCode: { ...snap.images.byCode } },
      outputs: { ...snap.outputs, byCode: { ...snap.outputs.byCode } },
      preprocessFailures: { ...snap.preprocessFailures },
      reconnects: { ...snap.reconnects },
      bytes: { ...snap.bytes },
      preprocessSeconds: { ...snap.preprocessSeconds },
      classifySeconds: { ...snap.classifySeconds },
      circuitTransitions: { ...snap.circuitTransitions },
      duplicates: correlateStats.duplicates,
    }),
    dispose() {
      for (const off of callbacks.splice(0)) off();
      for (const s of subscriptions.splice(0)) s.unsubscribe();
    },
  };
}
