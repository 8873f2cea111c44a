import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import { tap, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { createCorrelateStats, type CorrelateStats } from '../operators/correlate';
import type { ClassifyEvent, SentImage } from '../operators/classify';
import type { InFlightWindow } from '../operators/inFlightWindow';
import type { PipelineObserver } from '../operators/pipelineObserver';
import type { ClassificationEvent } from '../operators/results';
import type { CircuitBreaker, CircuitState } from '../reliability/circuitBreaker';
import { ATTR, globalMeter, instrumentsOf, type Instruments } from './instruments';
import { DEFAULT_LABEL_LIMITS, LabelCap, zeroDeploymentSeries, zeroUnscopedSeries } from './labels';

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
  /** The counters `correlate()` updates, if you pass your own to it. Default: fresh ones ({@link PipelineMetrics.correlateStats}). */
  readonly correlateStats?: CorrelateStats;
  /**
   * Most distinct values of `athena.deployment.id` (default 4) and `athena.affiliate` (default
   * 25) this pipeline records; later values are recorded as `(other)`. With the 18 outcome and
   * code pairs of `athena.client.images`, the defaults keep every instrument under the SDK's
   * 2000 series (4 x 25 x 18 = 1800).
   */
  readonly labelLimits?: { readonly deployments?: number; readonly affiliates?: number };
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
export interface PipelineMetrics extends PipelineObserver {
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
  /**
   * Records the backlog of a deployment, as a poll of `ListDeployments` found it. Only this
   * pipeline's deployments are recorded (the one given, or joined); others are ignored.
   */
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
  return new Recorder(options);
}

type Observer = { addCallback(cb: (r: ObservableResult) => void): void; removeCallback(cb: (r: ObservableResult) => void): void };

/** The state of one {@link pipelineMetrics}: instruments, the ids in flight, the snapshot's numbers. */
class Recorder implements PipelineMetrics {
  readonly correlateStats: CorrelateStats;
  private readonly I: Instruments;
  private readonly defaultAffiliate: string;
  private deploymentId: string | undefined;
  private readonly deployments: LabelCap;
  private readonly affiliates: LabelCap;
  /** Sent and unanswered, with the attributes their answers are counted under. */
  private readonly inFlight = new Map<string, Attributes>();
  /** Every id sent and not yet final, with its attributes and its last failed answer's code. */
  private readonly tracked = new Map<string, { attrs: Attributes; lastFailure?: string }>();
  /** The backlog of each of our deployments: 0 until a poll says otherwise. */
  private readonly backlogs = new Map<string, number>();
  private readonly callbacks: Array<() => void> = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly snap = {
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

  constructor(options: PipelineMetricsOptions) {
    this.correlateStats = options.correlateStats ?? createCorrelateStats();
    this.I = instrumentsOf(options.meter ?? globalMeter());
    this.deployments = new LabelCap(options.labelLimits?.deployments ?? DEFAULT_LABEL_LIMITS.deployments);
    this.affiliates = new LabelCap(options.labelLimits?.affiliates ?? DEFAULT_LABEL_LIMITS.affiliates);
    this.defaultAffiliate = options.affiliate ?? '';
    this.observe(this.I.inFlight, (r) => r.observe(this.inFlight.size));
    this.observe(this.I.duplicates, (r) => r.observe(this.correlateStats.duplicates));
    this.observe(this.I.backlog, (r) => {
      for (const [d, n] of this.backlogs) r.observe(n, { [ATTR.deployment]: d });
    });
    zeroUnscopedSeries(this.I);
    this.joined(options.deploymentId);
  }

  tapClassifyEvents<R>(): MonoTypeOperatorFunction<ClassifyEvent<R>> {
    return tap<ClassifyEvent<R>>((event) => this.onEvent(event));
  }

  tapResults<R>(): MonoTypeOperatorFunction<ClassificationEvent<R>> {
    return tap<ClassificationEvent<R>>((event) => this.onResult(event));
  }

  observeWindow(window: Pick<InFlightWindow, 'inUse' | 'size'>): void {
    this.observe(this.I.windowUsage, (r) => r.observe(window.inUse));
    this.observe(this.I.windowLimit, (r) => r.observe(window.size));
  }

  observeBreaker(breaker: CircuitBreaker): void {
    const states: CircuitState[] = ['closed', 'open', 'half-open'];
    this.observe(this.I.circuitState, (r) => {
      for (const s of states) r.observe(breaker.state === s ? 1 : 0, { [ATTR.circuitState]: s });
    });
    for (const s of states) this.I.circuitTransitions.add(0, { [ATTR.circuitState]: s });
    this.subscriptions.push(
      breaker.events.subscribe((e) => {
        this.I.circuitTransitions.add(1, { [ATTR.circuitState]: e.to });
        bump(this.snap.circuitTransitions, e.to);
      }),
    );
  }

  recordBacklog(id: string, backlog: number): void {
    // ListDeployments lists every deployment of the credential: another client's are not ours to report.
    if (this.backlogs.has(id)) this.backlogs.set(id, backlog);
  }

  recordLate(count = 1): void {
    this.I.lateAnswers.add(count, this.deploymentAttrs());
    this.snap.lateAnswers += count;
  }

  snapshot(): MetricsSnapshot {
    const snap = this.snap;
    return {
      ...snap,
      images: { ...snap.images, byCode: { ...snap.images.byCode } },
      outputs: { ...snap.outputs, byCode: { ...snap.outputs.byCode } },
      preprocessFailures: { ...snap.preprocessFailures },
      reconnects: { ...snap.reconnects },
      bytes: { ...snap.bytes },
      preprocessSeconds: { ...snap.preprocessSeconds },
      classifySeconds: { ...snap.classifySeconds },
      circuitTransitions: { ...snap.circuitTransitions },
      duplicates: this.correlateStats.duplicates,
    };
  }

  dispose(): void {
    for (const off of this.callbacks.splice(0)) off();
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }

  private observe(instrument: Observer, cb: (r: ObservableResult) => void): void {
    instrument.addCallback(cb);
    this.callbacks.push(() => instrument.removeCallback(cb));
  }

  private deploymentAttrs(): Attributes {
    return this.deploymentId !== undefined ? { [ATTR.deployment]: this.deploymentId } : {};
  }

  /**
   * The deployment the pipeline is on now (given, or named by a `connection` event): its id is
   * admitted under the cap, and its known series start at 0 (the service's codes, the client's,
   * each reconnect reason, the default affiliate).
   */
  private joined(id: string | undefined): void {
    if (id === undefined) return;
    const known = this.deployments.has(id);
    this.deploymentId = this.deployments.value(id);
    if (known || this.deploymentId !== id) return;
    this.backlogs.set(id, 0);
    zeroDeploymentSeries(this.I, id, this.affiliates.value(this.defaultAffiliate));
  }

  private track(id: string, attrs: Attributes): { attrs: Attributes; lastFailure?: string } {
    let t = this.tracked.get(id);
    if (!t) {
      if (this.tracked.size >= MAX_TRACKED) this.tracked.delete(this.tracked.keys().next().value as string);
      t = { attrs };
      this.tracked.set(id, t);
    }
    return t;
  }

  /** An answer (or a failure) for an image in flight: counted once per send. */
  private answered(id: string, code: string | undefined): void {
    const attrs = this.inFlight.get(id);
    if (!attrs) return;
    this.inFlight.delete(id);
    const failed = code !== undefined;
    this.I.outputs.add(1, { ...attrs, [ATTR.outcome]: failed ? 'failure' : 'success', ...(failed ? { [ATTR.errorCode]: code } : {}) });
    if (!failed) {
      this.snap.outputs.succeeded += 1;
      return;
    }
    this.snap.outputs.failed += 1;
    bump(this.snap.outputs.byCode, code);
    const t = this.tracked.get(id);
    if (t) t.lastFailure = code;
  }

  private onEvent<R>(event: ClassifyEvent<R>): void {
    switch (event.kind) {
      case 'connection':
        return this.onConnection(event);
      case 'sent':
        return this.onSent(event.images);
      case 'response': {
        const { globalError, outputs } = event.response;
        if (globalError) {
          this.I.globalErrors.add(1, { ...this.deploymentAttrs(), [ATTR.errorCode]: globalError.code });
          this.snap.globalErrors += 1;
          for (const sent of event.request ?? []) this.answered(sent.image.correlationId, globalError.code);
          return;
        }
        for (const output of outputs ?? []) this.answered(output.correlationId, output.error?.code);
        return;
      }
      case 'failed':
        for (const sent of event.images) this.answered(sent.image.correlationId, event.failure.code);
        return;
      case 'late':
        return this.recordLate(event.images.length);
      default:
        return; // rejected items are counted with the results
    }
  }

  private onConnection(event: Extract<ClassifyEvent, { kind: 'connection' }>): void {
    this.joined(event.deploymentId);
    const reason = event.reason === 'rotation' ? 'rotation' : 'failure';
    if (event.state === 'reconnecting' || (event.state === 'open' && reason === 'rotation')) {
      this.I.reconnects.add(1, { ...this.deploymentAttrs(), [ATTR.reason]: reason });
      this.snap.reconnects[reason] += 1;
    } else if (event.state === 'failed') {
      this.I.transportFailures.add(1, this.deploymentAttrs());
      this.snap.transportFailures += 1;
    }
  }

  private onSent<R>(images: readonly SentImage<R>[]): void {
    let wire = 0;
    for (const sent of images) {
      const { image } = sent;
      const id = image.correlationId;
      const t = this.track(id, {
        ...this.deploymentAttrs(),
        [ATTR.affiliate]: this.affiliates.value(image.affiliate ?? this.defaultAffiliate),
      });
      wire += image.data.length;
      if (sent.attempt <= 1) {
        this.I.bytes.add(image.sizes.original, { [ATTR.bytesStage]: 'read' });
        this.I.bytes.add(image.sizes.prepared, { [ATTR.bytesStage]: 'prepared' });
        this.snap.bytes.read += image.sizes.original;
        this.snap.bytes.prepared += image.sizes.prepared;
      } else if (t.lastFailure !== undefined) {
        this.I.retries.add(1, { ...this.deploymentAttrs(), [ATTR.errorCode]: t.lastFailure });
        this.snap.retries += 1;
        t.lastFailure = undefined;
      } else {
        this.I.resends.add(1, this.deploymentAttrs());
        this.snap.resends += 1;
      }
      this.inFlight.set(id, t.attrs);
    }
    this.I.bytes.add(wire, { [ATTR.bytesStage]: 'sent' });
    this.snap.bytes.sent += wire;
  }

  private onResult<R>(event: ClassificationEvent<R>): void {
    if (event.kind === 'foreign') {
      this.I.foreign.add(1, this.deploymentAttrs());
      this.snap.foreign += 1;
      return;
    }
    const t = this.tracked.get(event.correlationId);
    this.tracked.delete(event.correlationId);
    const attrs: Attributes = t?.attrs ?? { ...this.deploymentAttrs(), [ATTR.affiliate]: this.affiliates.value(this.defaultAffiliate) };
    const prepareSeconds = event.timings.prepareMs / 1000;
    this.I.preprocessDuration.record(prepareSeconds);
    addDuration(this.snap.preprocessSeconds, prepareSeconds);
    if (event.timings.roundTripMs !== undefined) {
      const seconds = event.timings.roundTripMs / 1000;
      this.I.roundTrip.record(seconds, { ...this.deploymentAttrs(), [ATTR.outcome]: event.kind });
      addDuration(this.snap.classifySeconds, seconds);
    }
    if (event.kind === 'success') {
      this.I.images.add(1, { ...attrs, [ATTR.outcome]: 'success' });
      this.snap.images.succeeded += 1;
      return;
    }
    this.I.images.add(1, { ...attrs, [ATTR.outcome]: 'failure', [ATTR.errorCode]: event.code, [ATTR.stage]: event.stage });
    this.snap.images.failed += 1;
    bump(this.snap.images.byCode, event.code);
    if (event.stage === 'preprocess') {
      this.I.preprocessFailures.add(1, { [ATTR.errorCode]: event.code });
      bump(this.snap.preprocessFailures, event.code);
    }
  }
}
