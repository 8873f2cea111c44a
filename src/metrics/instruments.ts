import type { Counter, Histogram, Meter, ObservableCounter, ObservableGauge } from '@opentelemetry/api';
import { clientVersion } from '../transport/version';

/** The instrumentation scope every instrument of this library is created under. */
export const METER_NAME = 'athena-rx';

/**
 * Attribute keys, namespaced as OpenTelemetry asks of attributes that are not semantic
 * conventions. Values are the contract's own words (`ERROR_CODE_MODEL_ERROR`, the deployment id).
 */
export const ATTR = {
  outcome: 'athena.outcome',
  errorCode: 'athena.error.code',
  stage: 'athena.failure.stage',
  deployment: 'athena.deployment.id',
  affiliate: 'athena.affiliate',
  bytesStage: 'athena.bytes.stage',
  reason: 'athena.reason',
  circuitState: 'athena.circuit.state',
} as const;

/** What one instrument is: its kind, name, unit (UCUM, as OpenTelemetry wants) and description. */
export interface InstrumentSpec {
  readonly kind: 'counter' | 'histogram' | 'gauge' | 'observable counter';
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  /** The attributes it is recorded with. */
  readonly attributes: readonly string[];
}

/**
 * Every instrument the library records, the single source of `docs/monitoring.md`'s table. Names
 * follow OpenTelemetry's rules: a namespace (`athena.`), dot-separated lower-case words, no unit
 * in the name (it is in `unit`; the Prometheus exporter adds `_seconds`, `_bytes`, `_total`).
 */
export const INSTRUMENTS = {
  images: {
    kind: 'counter',
    name: 'athena.client.images',
    unit: '{image}',
    description: 'Images that left the pipeline with their final result (one per image), by outcome and code',
    attributes: [ATTR.outcome, ATTR.errorCode, ATTR.stage, ATTR.deployment, ATTR.affiliate],
  },
  outputs: {
    kind: 'counter',
    name: 'athena.client.outputs',
    unit: '{image}',
    description: "Answers the service gave for our images, each attempt counted (the service's error rate), by outcome and code",
    attributes: [ATTR.outcome, ATTR.errorCode, ATTR.deployment, ATTR.affiliate],
  },
  globalErrors: {
    kind: 'counter',
    name: 'athena.client.global_errors',
    unit: '{request}',
    description: 'Requests the service refused as a whole (ClassifyResponse.global_error), by code',
    attributes: [ATTR.errorCode, ATTR.deployment],
  },
  preprocessFailures: {
    kind: 'counter',
    name: 'athena.client.preprocess.failures',
    unit: '{image}',
    description: 'Images the client could not prepare (read, decode, resize, hash), by code',
    attributes: [ATTR.errorCode],
  },
  retries: {
    kind: 'counter',
    name: 'athena.client.retries',
    unit: '{image}',
    description: 'Images sent again after a failed answer (retryByErrorCode), by the code that was retried',
    attributes: [ATTR.errorCode, ATTR.deployment],
  },
  resends: {
    kind: 'counter',
    name: 'athena.client.resends',
    unit: '{image}',
    description: 'Images sent again after the stream was reopened, because their answer had not come',
    attributes: [ATTR.deployment],
  },
  reconnects: {
    kind: 'counter',
    name: 'athena.client.reconnects',
    unit: '{stream}',
    description: 'Classify streams reopened: after a failure (reason failure) or ahead of token expiry (reason rotation)',
    attributes: [ATTR.reason, ATTR.deployment],
  },
  transportFailures: {
    kind: 'counter',
    name: 'athena.client.transport.failures',
    unit: '{outage}',
    description: 'Times the stream was given up for good (the outage budget spent, or a refusal that retrying cannot fix)',
    attributes: [ATTR.deployment],
  },
  lateAnswers: {
    kind: 'counter',
    name: 'athena.client.response_window.late',
    unit: '{image}',
    description: 'Images still unanswered after the warning share of the 1-hour response window',
    attributes: [ATTR.deployment],
  },
  duplicates: {
    kind: 'observable counter',
    name: 'athena.client.duplicates',
    unit: '{image}',
    description: 'Answers dropped because their correlation id was already answered',
    attributes: [],
  },
  foreign: {
    kind: 'counter',
    name: 'athena.client.foreign',
    unit: '{image}',
    description: 'Answers for images another member of a shared deployment sent',
    attributes: [ATTR.deployment],
  },
  bytes: {
    kind: 'counter',
    name: 'athena.client.bytes',
    unit: 'By',
    description: 'Bytes of images: read (the source files), prepared (448x448 BGR pixels) and sent (on the wire, every send)',
    attributes: [ATTR.bytesStage],
  },
  preprocessDuration: {
    kind: 'histogram',
    name: 'athena.client.preprocess.duration',
    unit: 's',
    description: 'Time to prepare one image (read, decode, resize, hash, compress)',
    attributes: [],
  },
  roundTrip: {
    kind: 'histogram',
    name: 'athena.client.classify.duration',
    unit: 's',
    description: 'From the first send of an image to its final answer (retries included)',
    attributes: [ATTR.outcome, ATTR.deployment],
  },
  inFlight: {
    kind: 'gauge',
    name: 'athena.client.images.in_flight',
    unit: '{image}',
    description: 'Images sent and not yet answered',
    attributes: [],
  },
  windowUsage: {
    kind: 'gauge',
    name: 'athena.client.window.usage',
    unit: '{image}',
    description: 'Credits of the back-pressure window taken: images between preprocess and their result',
    attributes: [],
  },
  windowLimit: {
    kind: 'gauge',
    name: 'athena.client.window.limit',
    unit: '{image}',
    description: 'Size of the back-pressure window',
    attributes: [],
  },
  backlog: {
    kind: 'gauge',
    name: 'athena.deployment.backlog',
    unit: '{response}',
    description: 'Responses waiting in a deployment (ListDeployments), where a client polls it',
    attributes: [ATTR.deployment],
  },
  serverStreams: {
    kind: 'gauge',
    name: 'athena.server.streams',
    unit: '{stream}',
    description: 'athena-rx serve: Classify streams joined to a deployment now',
    attributes: [ATTR.deployment],
  },
  serverPurged: {
    kind: 'observable counter',
    name: 'athena.server.responses.purged',
    unit: '{response}',
    description: 'athena-rx serve: responses purged undelivered (older than the response lifetime, or beyond the backlog bound)',
    attributes: [ATTR.deployment],
  },
  circuitState: {
    kind: 'gauge',
    name: 'athena.client.circuit.state',
    unit: '1',
    description: '1 for the state the circuit breaker is in, 0 for the others',
    attributes: [ATTR.circuitState],
  },
  circuitTransitions: {
    kind: 'counter',
    name: 'athena.client.circuit.transitions',
    unit: '{transition}',
    description: "Changes of the circuit breaker's state, by the state entered",
    attributes: [ATTR.circuitState],
  },
  tokenFailures: {
    kind: 'counter',
    name: 'athena.client.token.failures',
    unit: '{request}',
    description:
      'Times no token could be had from the token endpoint (a refresh that fell back on a still-valid token is not one), by code',
    attributes: [ATTR.errorCode],
  },
} as const satisfies Record<string, InstrumentSpec>;

/** The instruments of one meter, created once and shared by every pipeline that records to it. */
export interface Instruments {
  readonly images: Counter;
  readonly outputs: Counter;
  readonly globalErrors: Counter;
  readonly preprocessFailures: Counter;
  readonly retries: Counter;
  readonly resends: Counter;
  readonly reconnects: Counter;
  readonly transportFailures: Counter;
  readonly lateAnswers: Counter;
  readonly duplicates: ObservableCounter;
  readonly foreign: Counter;
  readonly bytes: Counter;
  readonly preprocessDuration: Histogram;
  readonly roundTrip: Histogram;
  readonly inFlight: ObservableGauge;
  readonly windowUsage: ObservableGauge;
  readonly windowLimit: ObservableGauge;
  readonly backlog: ObservableGauge;
  readonly circuitState: ObservableGauge;
  readonly circuitTransitions: Counter;
  readonly tokenFailures: Counter;
}

const cache = new WeakMap<Meter, Instruments>();

/** Bucket bounds in seconds: preparing takes milliseconds, an answer up to minutes. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The instruments of `meter`, created on first use. */
export function instrumentsOf(meter: Meter): Instruments {
  const known = cache.get(meter);
  if (known) return known;
  const I = INSTRUMENTS;
  const counter = (s: InstrumentSpec): Counter => meter.createCounter(s.name, { unit: s.unit, description: s.description });
  const gauge = (s: InstrumentSpec): ObservableGauge => meter.createObservableGauge(s.name, { unit: s.unit, description: s.description });
  const histogram = (s: InstrumentSpec): Histogram =>
    meter.createHistogram(s.name, { unit: s.unit, description: s.description, advice: { explicitBucketBoundaries: DURATION_BUCKETS } });
  const made: Instruments = {
    images: counter(I.images),
    outputs: counter(I.outputs),
    globalErrors: counter(I.globalErrors),
    preprocessFailures: counter(I.preprocessFailures),
    retries: counter(I.retries),
    resends: counter(I.resends),
    reconnects: counter(I.reconnects),
    transportFailures: counter(I.transportFailures),
    lateAnswers: counter(I.lateAnswers),
    duplicates: meter.createObservableCounter(I.duplicates.name, { unit: I.duplicates.unit, description: I.duplicates.description }),
    foreign: counter(I.foreign),
    bytes: counter(I.bytes),
    preprocessDuration: histogram(I.preprocessDuration),
    roundTrip: histogram(I.roundTrip),
    inFlight: gauge(I.inFlight),
    windowUsage: gauge(I.windowUsage),
    windowLimit: gauge(I.windowLimit),
    backlog: gauge(I.backlog),
    circuitState: gauge(I.circuitState),
    circuitTransitions: counter(I.circuitTransitions),
    tokenFailures: counter(I.tokenFailures),
  };
  cache.set(meter, made);
  return made;
}

/**
 * The global meter `athena-rx` (`@opentelemetry/api`'s, a no-op until an application registers an
 * SDK). The API is loaded when a meter is first asked for, not when athena-rx is: loading it cost
 * some 30 CPU-ms, a tenth of `require('athena-rx')`, for every process and every Jest test file
 * that never records a metric (docs/performance.md, "Starting the command line").
 */
export function globalMeter(): Meter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { metrics } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  return metrics.getMeter(METER_NAME, clientVersion());
}
