import { MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { from, lastValueFrom, toArray } from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import { classify, type ClassifyItem } from '../../src/operators/classify';
import { correlate } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { preprocess } from '../../src/operators/preprocess';
import { retryByErrorCode } from '../../src/operators/retryByErrorCode';
import { pollBacklog } from '../../src/cli/metricsEndpoint';
import { INSTRUMENTS, OVERFLOW_VALUE, pipelineMetrics } from '../../src/metrics';
import { classifyImages } from '../../src/pipeline/classifyImages';
import { pipelineContext } from '../../src/operators/pipelineContext';
import { circuitBreaker } from '../../src/reliability/circuitBreaker';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';
import { rawImages } from '../pipeline/helpers';

/** Collects on demand: what a Prometheus scrape would read. */
class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

async function scrape(reader: TestReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

const points = (m: MetricData | undefined): DataPoint<unknown>[] => (m?.dataPoints ?? []) as DataPoint<unknown>[];
const sum = (m: MetricData | undefined, match: Record<string, unknown> = {}): number =>
  points(m)
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((s, p) => s + (p.value as number), 0);

describe('pipelineMetrics over loopback', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it('counts images by outcome, code, deployment and affiliate, with bytes, histograms and gauges, the same figures as its snapshot', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const meter = provider.getMeter('athena-rx');
    // No deploymentId here: the attribute comes from classify's connection events.
    const m = pipelineMetrics({ meter });
    const window = inFlightWindow(32);
    m.observeWindow(window);
    m.observeBreaker(circuitBreaker());
    const client = createAthenaClient({ address: server.address, credentials: insecure(), affiliate: 'acme' });
    // 3 of 20 images always fail with MODEL_ERROR; one of those (m-1) succeeds on its retry.
    const inputs = [...rawImages(20, (i) => (i % 2 === 0 ? 'acme' : 'globex'))].map((input) => ({
      ...input,
      correlationId: `m-${input.ref}`,
    }));
    server.faults.modelErrorFor(['m-3', 'm-5'], 10);
    server.faults.modelErrorFor(['m-1'], 1);
    const context = pipelineContext();
    const results = await lastValueFrom(
      from([...inputs, { source: Buffer.from('not an image'), ref: 99, correlationId: 'm-bad' }]).pipe(
        preprocess<number>({ window, encoding: 'brotli', brotliQuality: 1 }),
        bufferBatch<ClassifyItem<number>>({ maxCount: 8, maxWait: 5 }),
        classify<number>(client, { window, deploymentId: 'metrics-test', shared: false, context }),
        m.tapClassifyEvents(),
        correlate<number>({ stats: m.correlateStats }),
        retryByErrorCode<number>({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelay: 5 } }, context }),
        m.tapResults(),
        toArray(),
      ),
    );
    client.close();
    server.faults.clear();
    expect(results).toHaveLength(21);

    const got = await scrape(reader);
    const images = got.get(INSTRUMENTS.images.name);
    expect(images?.descriptor.unit).toBe('{image}');
    expect(sum(images, { 'athena.outcome': 'success' })).toBe(18);
    expect(sum(images, { 'athena.outcome': 'failure', 'athena.error.code': 'ERROR_CODE_MODEL_ERROR' })).toBe(2);
    expect(
      sum(images, { 'athena.outcome': 'failure', 'athena.error.code': 'UNSUPPORTED_FORMAT', 'athena.failure.stage': 'preprocess' }),
    ).toBe(1);
    // m-3 and m-5 are odd: affiliate globex, deployment named.
    expect(
      sum(images, { 'athena.error.code': 'ERROR_CODE_MODEL_ERROR', 'athena.affiliate': 'globex', 'athena.deployment.id': 'metrics-test' }),
    ).toBe(2);
    expect(sum(images, { 'athena.outcome': 'success', 'athena.affiliate': 'acme' })).toBe(10);

    // Every answer of the service, retries included: 20 first answers and 3 retried ones.
    const outputs = got.get(INSTRUMENTS.outputs.name);
    expect(sum(outputs, { 'athena.error.code': 'ERROR_CODE_MODEL_ERROR' })).toBe(5);
    expect(sum(outputs, { 'athena.outcome': 'success' })).toBe(18);
    expect(sum(got.get(INSTRUMENTS.retries.name), { 'athena.error.code': 'ERROR_CODE_MODEL_ERROR' })).toBe(3);
    expect(sum(got.get(INSTRUMENTS.preprocessFailures.name), { 'athena.error.code': 'UNSUPPORTED_FORMAT' })).toBe(1);

    const bytes = got.get(INSTRUMENTS.bytes.name);
    expect(bytes?.descriptor.unit).toBe('By');
    expect(sum(bytes, { 'athena.bytes.stage': 'prepared' })).toBe(20 * 448 * 448 * 3);
    expect(sum(bytes, { 'athena.bytes.stage': 'sent' })).toBeGreaterThan(0);

    const roundTrip = got.get(INSTRUMENTS.roundTrip.name);
    expect(roundTrip?.descriptor.unit).toBe('s');
    const rtCount = points(roundTrip).reduce((s, p) => s + (p.value as { count: number }).count, 0);
    expect(rtCount).toBe(20);
    const prepCount = points(got.get(INSTRUMENTS.preprocessDuration.name)).reduce((s, p) => s + (p.value as { count: number }).count, 0);
    expect(prepCount).toBe(21);

    // Gauges read at scrape time: nothing in flight, the window empty, its size, the breaker closed.
    expect(sum(got.get(INSTRUMENTS.inFlight.name))).toBe(0);
    expect(sum(got.get(INSTRUMENTS.windowUsage.name))).toBe(0);
    expect(sum(got.get(INSTRUMENTS.windowLimit.name))).toBe(32);
    expect(sum(got.get(INSTRUMENTS.circuitState.name), { 'athena.circuit.state': 'closed' })).toBe(1);

    const snap = m.snapshot();
    expect(snap.images).toEqual({ succeeded: 18, failed: 3, byCode: { ERROR_CODE_MODEL_ERROR: 2, UNSUPPORTED_FORMAT: 1 } });
    expect(snap.retries).toBe(3);
    expect(snap.bytes.prepared).toBe(sum(bytes, { 'athena.bytes.stage': 'prepared' }));
    expect(snap.bytes.sent).toBe(sum(bytes, { 'athena.bytes.stage': 'sent' }));
    expect(snap.classifySeconds.count).toBe(20);
    m.dispose();
    await provider.shutdown();
  });

  it('records nothing and costs nothing visible without an SDK (the global no-op meter)', async () => {
    const m = pipelineMetrics();
    const client = createAthenaClient({ address: server.address, credentials: insecure() });
    const results = await lastValueFrom(
      from(rawImages(3)).pipe(
        preprocess<number>(),
        bufferBatch<ClassifyItem<number>>({ maxWait: 5 }),
        classify<number>(client),
        m.tapClassifyEvents(),
        correlate<number>(),
        m.tapResults(),
        toArray(),
      ),
    );
    client.close();
    expect(results.map((r) => r.kind)).toEqual(['success', 'success', 'success']);
    expect(m.snapshot().images.succeeded).toBe(3);
  });

  it('starts the known series of its deployment at 0, before any image (18 image series: success and each code with its stage)', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const m = pipelineMetrics({ meter: provider.getMeter('athena-rx'), deploymentId: 'zero', affiliate: 'acme' });
    m.observeBreaker(circuitBreaker());
    const got = await scrape(reader);
    const at = (name: string, match: Record<string, unknown>) =>
      points(got.get(name))
        .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
        .map((p) => p.value);
    const own = { 'athena.deployment.id': 'zero' };
    expect(points(got.get(INSTRUMENTS.images.name))).toHaveLength(18);
    expect(
      at(INSTRUMENTS.images.name, {
        ...own,
        'athena.affiliate': 'acme',
        'athena.error.code': 'RESPONSE_TIMEOUT',
        'athena.failure.stage': 'transport',
      }),
    ).toEqual([0]);
    expect(at(INSTRUMENTS.retries.name, { ...own, 'athena.error.code': 'ERROR_CODE_MODEL_ERROR' })).toEqual([0]);
    expect(at(INSTRUMENTS.globalErrors.name, { ...own, 'athena.error.code': 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' })).toEqual([0]);
    expect(at(INSTRUMENTS.transportFailures.name, own)).toEqual([0]);
    expect(at(INSTRUMENTS.reconnects.name, { ...own, 'athena.reason': 'rotation' })).toEqual([0]);
    expect(at(INSTRUMENTS.circuitTransitions.name, { 'athena.circuit.state': 'open' })).toEqual([0]);
    expect(at(INSTRUMENTS.bytes.name, { 'athena.bytes.stage': 'sent' })).toEqual([0]);
    expect(at(INSTRUMENTS.backlog.name, own)).toEqual([0]);
    m.dispose();
    await provider.shutdown();
  });

  it("records the backlog of its own deployment only, though ListDeployments lists another client's", async () => {
    // Another client's deployment, with answers nobody has read yet.
    const other = createAthenaClient({ address: server.address, credentials: insecure(), deploymentId: 'someone-else' });
    await lastValueFrom(from(rawImages(2)).pipe(classifyImages<number>(other, { batch: { maxWait: 5 }, metrics: false }), toArray()));
    other.close();
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const m = pipelineMetrics({ meter: provider.getMeter('athena-rx'), deploymentId: 'mine' });
    const client = createAthenaClient({ address: server.address, credentials: insecure(), deploymentId: 'mine' });
    const polled: string[] = [];
    const stop = pollBacklog(client, { recordBacklog: (d, n) => (polled.push(d), m.recordBacklog(d, n)) }, 50);
    try {
      while (!polled.includes('someone-else')) await new Promise((r) => setTimeout(r, 20));
      const backlog = points((await scrape(reader)).get(INSTRUMENTS.backlog.name));
      expect(backlog.map((p) => p.attributes['athena.deployment.id'])).toEqual(['mine']);
    } finally {
      stop();
      client.close();
      m.dispose();
      await provider.shutdown();
    }
  });

  it('records at most labelLimits values of deployment and affiliate; later ones as (other)', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    // One deployment and two affiliates: the client's own affiliate a takes one place from the start.
    const m = pipelineMetrics({
      meter: provider.getMeter('athena-rx'),
      deploymentId: 'first',
      affiliate: 'a',
      labelLimits: { deployments: 1, affiliates: 2 },
    });
    const client = createAthenaClient({ address: server.address, credentials: insecure(), affiliate: 'a', deploymentId: 'second' });
    const results = await lastValueFrom(
      from(rawImages(6, (i) => ['a', 'b', 'c'][i % 3])).pipe(
        classifyImages<number>(client, { batch: { maxWait: 5 }, metrics: m }),
        toArray(),
      ),
    );
    client.close();
    expect(results.map((r) => r.kind)).toEqual(Array(6).fill('success'));
    const images = points((await scrape(reader)).get(INSTRUMENTS.images.name)).filter((p) => p.attributes['athena.outcome'] === 'success');
    const byLabels = images.map((p) => [p.attributes['athena.deployment.id'], p.attributes['athena.affiliate'], p.value]);
    expect(byLabels.filter(([, , n]) => n !== 0)).toEqual([
      [OVERFLOW_VALUE, 'a', 2],
      [OVERFLOW_VALUE, 'b', 2],
      [OVERFLOW_VALUE, OVERFLOW_VALUE, 2],
    ]);
    m.dispose();
    await provider.shutdown();
  });
});
