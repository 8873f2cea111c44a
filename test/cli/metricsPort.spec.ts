/**
 * `classify --metrics-port`: Prometheus scrapes the run's OpenTelemetry metrics while it runs,
 * against a server with injected model errors (issue 11).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { runServe } from '../../src/cli/commands/serve';
import { pollBacklog } from '../../src/cli/metricsEndpoint';
import { pipelineMetrics } from '../../src/metrics';
import { main } from '../../src/cli/main';
import { classifyImages } from '../../src/pipeline/classifyImages';
import { createAthenaClient, insecure } from '../../src/transport';
import { rawImages } from '../pipeline/helpers';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo } from './fakeIo';
import { freePort, parseScrape as parse, type Sample } from '../metrics/scrape';

const root = join(__dirname, '../..');

const total = (samples: Sample[], name: string, match: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

describe('classify --metrics-port', () => {
  let server: AthenaTestServer;
  let tmp: string;
  beforeAll(async () => {
    server = await startAthenaServer();
    tmp = mkdtempSync(join(tmpdir(), 'athena-metrics-'));
  });
  afterAll(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves counters by code, deployment and affiliate, histograms and gauges while the run goes on, matching what it printed', async () => {
    // Two images fail with MODEL_ERROR at every attempt; the others succeed. Answers take 150 ms,
    // one image at a time, so the run lasts long enough to be scraped halfway.
    const failing = new Set<string>();
    server.faults.modelErrorFor((id) => {
      if (failing.size < 2) failing.add(id);
      return failing.has(id);
    });
    server.faults.latency(150);
    const port = await freePort();
    const summary = join(tmp, 'summary.json');
    const io = fakeIo({ cwd: root });
    const args = [
      'classify',
      'samples',
      '--address',
      server.address,
      '--insecure',
      '--format',
      'jsonl',
      '--batch-size',
      '1',
      '--in-flight',
      '1',
      '--deployment-id',
      'metrics-run',
      '--affiliate',
      'acme',
      '--metrics-port',
      String(port),
      '--metrics-host',
      '127.0.0.1',
      '--summary-file',
      summary,
    ];
    const run = main(args, io);

    // Scrape until at least 3 results were printed, and only keep a scrape during which no result
    // was printed, so that the printed lines and the scraped counters describe the same moment.
    let scraped: Sample[] | undefined;
    let printed: Array<{ outcome: string; errorCode: string | null }> = [];
    while (!scraped) {
      await new Promise((r) => setTimeout(r, 50));
      const before = io.out();
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => undefined,
      );
      if (text === undefined || io.out() !== before) continue;
      printed = before
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      if (printed.length >= 3) scraped = parse(text);
    }
    expect(await run).toBe(1);
    server.faults.clear();

    const s = scraped;
    const succeeded = printed.filter((r) => r.outcome === 'success').length;
    const modelErrors = printed.filter((r) => r.errorCode === 'ERROR_CODE_MODEL_ERROR').length;
    expect(printed.length).toBeLessThan(8); // scraped halfway
    const ours = { athena_deployment_id: 'metrics-run', athena_affiliate: 'acme' };
    expect(total(s, 'athena_client_images_total', { ...ours, athena_outcome: 'success' })).toBe(succeeded);
    expect(
      total(s, 'athena_client_images_total', {
        ...ours,
        athena_outcome: 'failure',
        athena_error_code: 'ERROR_CODE_MODEL_ERROR',
        athena_failure_stage: 'server',
      }),
    ).toBe(modelErrors);
    expect(total(s, 'athena_client_images_total')).toBe(printed.length);
    // Every answer counts, each retry too: a failing image has 4 MODEL_ERROR answers (3 retries).
    expect(total(s, 'athena_client_outputs_total', { ...ours, athena_error_code: 'ERROR_CODE_MODEL_ERROR' })).toBeGreaterThanOrEqual(
      4 * modelErrors,
    );
    expect(
      total(s, 'athena_client_retries_total', { athena_error_code: 'ERROR_CODE_MODEL_ERROR', athena_deployment_id: 'metrics-run' }),
    ).toBeGreaterThanOrEqual(3 * modelErrors);
    // Histograms: one observation per result, in seconds.
    expect(total(s, 'athena_client_classify_duration_seconds_count')).toBe(printed.length);
    expect(total(s, 'athena_client_preprocess_duration_seconds_count')).toBe(printed.length);
    expect(total(s, 'athena_client_classify_duration_seconds_sum')).toBeGreaterThanOrEqual(0.15 * printed.length);
    // Gauges: the window has one credit; bytes were sent.
    expect(total(s, 'athena_client_window_limit')).toBe(1);
    expect(total(s, 'athena_client_images_in_flight')).toBeLessThanOrEqual(1);
    expect(total(s, 'athena_client_bytes_total', { athena_bytes_stage: 'sent' })).toBeGreaterThan(0);

    // The summary file has the same figures at the end.
    const written = JSON.parse(readFileSync(summary, 'utf8'));
    expect(written).toMatchObject({
      status: 'failed',
      exitStatus: 1,
      images: { total: 8, succeeded: 6, failed: 2, notAttempted: 0, byCode: { ERROR_CODE_MODEL_ERROR: 2 } },
    });
    expect(written.metrics.outputs.byCode.ERROR_CODE_MODEL_ERROR).toBe(8);
    expect(written.metrics.retries).toBe(6);
    expect(written.bytes.sent).toBeGreaterThan(0);
    expect(io.err()).toContain(`metrics for Prometheus at http://127.0.0.1:${port}/metrics`);
  }, 60_000);
});

describe('serve --metrics-port', () => {
  it("serves each deployment's backlog, joined streams and purged responses", async () => {
    const port = await freePort();
    const io = fakeIo();
    const abort = new AbortController();
    const done = runServe(['--port', '0', '--metrics-port', String(port), '--metrics-host', '127.0.0.1'], io, abort.signal);
    while (!io.out().includes('\n')) await new Promise((r) => setTimeout(r, 20));
    const address = io.out().split('\n')[0]!;
    const client = createAthenaClient({ address, credentials: insecure(), deploymentId: 'served' });
    const results = await lastValueFrom(from(rawImages(3)).pipe(classifyImages<number>(client, { batch: { maxWait: 5 } }), toArray()));
    client.close();
    expect(results.map((r) => r.kind)).toEqual(['success', 'success', 'success']);
    const samples = parse(await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()));
    abort.abort();
    expect(await done).toBe(0);
    expect(samples.find((x) => x.name === 'athena_deployment_backlog' && x.labels.athena_deployment_id === 'served')?.value).toBe(0);
    expect(samples.find((x) => x.name === 'athena_server_streams' && x.labels.athena_deployment_id === 'served')?.value).toBe(0);
    expect(
      samples.find((x) => x.name === 'athena_server_responses_purged_total' && x.labels.athena_deployment_id === 'served')?.value,
    ).toBe(0);
    expect(io.err()).toContain(`metrics for Prometheus at http://127.0.0.1:${port}/metrics`);
  });
});

describe('pollBacklog', () => {
  it('records every deployment ListDeployments reports, at once and then every interval', async () => {
    const server = await startAthenaServer();
    const client = createAthenaClient({ address: server.address, credentials: insecure(), deploymentId: 'polled' });
    const seen: Array<[string, number]> = [];
    const stop = pollBacklog(client, { recordBacklog: (d, n) => seen.push([d, n]) }, 50);
    try {
      await lastValueFrom(
        from(rawImages(2)).pipe(classifyImages<number>(client, { batch: { maxWait: 5 }, metrics: pipelineMetrics() }), toArray()),
      );
      while (!seen.some(([d]) => d === 'polled')) await new Promise((r) => setTimeout(r, 20));
      expect(seen.find(([d]) => d === 'polled')).toEqual(['polled', 0]);
    } finally {
      stop();
      client.close();
      await server.stop();
    }
  });
});
