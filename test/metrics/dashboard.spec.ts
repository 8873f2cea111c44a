/**
 * monitoring/athena-rx.dashboard.json uses only metrics we ship (issue 21): every expression of
 * every panel names metrics that a real scrape of our endpoint shows, or a recording rule of
 * monitoring/athena-rx.rules.yml.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { runServe } from '../../src/cli/commands/serve';
import { startMetricsEndpoint } from '../../src/cli/metricsEndpoint';
import { observeTokens, pipelineMetrics } from '../../src/metrics';
import { classifyImages } from '../../src/pipeline/classifyImages';
import { circuitBreaker } from '../../src/reliability/circuitBreaker';
import { startAthenaServer } from '../../src/testing/index';
import { createAthenaClient, insecure, staticToken } from '../../src/transport';
import { fakeIo } from '../cli/fakeIo';
import { rawImages } from '../pipeline/helpers';
import { WORKER_METRICS } from './shipped';
import { freePort, parseScrape } from './scrape';

const monitoring = join(__dirname, '../../monitoring');

interface Panel {
  readonly title: string;
  readonly targets?: ReadonlyArray<{ readonly expr: string }>;
}

/** The metric names an expression selects: label matchers and grouping clauses left out. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/"[^"]*"/g, '');
  // Whole names: a recording rule's `level:metric:operations` is one name.
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((n) => n.includes('athena_'));
}

/** Scrapes of a real client (breaker, token provider, histograms) and of `athena-rx serve`. */
async function realScrape(): Promise<Set<string>> {
  const server = await startAthenaServer();
  const endpoint = await startMetricsEndpoint({ port: await freePort() });
  const m = pipelineMetrics({ meter: endpoint.meter, deploymentId: 'dashboard' });
  const token = observeTokens(staticToken('t'), { meter: endpoint.meter });
  const client = createAthenaClient({
    address: server.address,
    credentials: insecure(token, { allowPlaintextToken: true }),
    deploymentId: 'dashboard',
  });
  await lastValueFrom(
    from(rawImages(3)).pipe(
      classifyImages<number>(client, { batch: { maxWait: 5 }, metrics: m, classify: { breaker: circuitBreaker() } }),
      toArray(),
    ),
  );
  const client$ = await fetch(endpoint.url!).then((r) => r.text());
  client.close();
  m.dispose();
  await endpoint.stop();
  await server.stop();

  const servePort = await freePort();
  const io = fakeIo();
  const abort = new AbortController();
  const served = runServe(['--port', '0', '--metrics-port', String(servePort)], io, abort.signal);
  while (!io.err().includes('metrics for Prometheus')) await new Promise((r) => setTimeout(r, 20));
  // serve reports its deployments: one joined, so that its gauges have a series.
  const address = io.out().split('\n')[0]!;
  const joined = createAthenaClient({ address, credentials: insecure(), deploymentId: 'served' });
  await lastValueFrom(from(rawImages(1)).pipe(classifyImages<number>(joined, { batch: { maxWait: 5 }, metrics: false }), toArray()));
  joined.close();
  const serve$ = await fetch(`http://127.0.0.1:${servePort}/metrics`).then((r) => r.text());
  abort.abort();
  await served;
  return new Set(parseScrape(client$ + serve$).map((s) => s.name));
}

describe('monitoring/athena-rx.dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(join(monitoring, 'athena-rx.dashboard.json'), 'utf8')) as { panels: Panel[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const));

  it('has panels with queries', () => {
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
    expect(exprs.every(([, e]) => metricNames(e).length > 0)).toBe(true);
  });

  it('names only metrics a real scrape shows (the worker: its instruments), or our recording rules', async () => {
    const scraped = await realScrape();
    const rules = readFileSync(join(monitoring, 'athena-rx.rules.yml'), 'utf8');
    const recorded = new Set([...rules.matchAll(/record: (\S+)/g)].map((m) => m[1]!));
    // The worker's metrics come with the worker (issue 18): checked by name until a scrape of it can be had here.
    const worker = new Set(Object.keys(WORKER_METRICS));
    const unknown = exprs.flatMap(([title, e]) =>
      metricNames(e)
        .filter((n) => !scraped.has(n) && !recorded.has(n) && !worker.has(n))
        .map((n) => `${title}: ${n}`),
    );
    expect(unknown).toEqual([]);
    // And the check can fail: a name the exporter does not write is caught.
    expect(scraped.has('athena_client_classify_duration_bucket')).toBe(false);
    expect(scraped.has('athena_client_classify_duration_seconds_bucket')).toBe(true);
  }, 60_000);
});
