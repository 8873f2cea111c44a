/**
 * End to end with a real Prometheus (Debian's `prometheus`, installed by .ci/run): it scrapes a
 * running `athena-rx serve` and `athena-rx classify` on loopback, evaluates
 * monitoring/athena-rx.rules.yml, and a rule's result is read back through its HTTP query API
 * (issue 21). Skipped, with the reason printed, only when the binary is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServe } from '../../src/cli/commands/serve';
import { main } from '../../src/cli/main';
import { startAthenaServer } from '../../src/testing/index';
import { fakeIo } from '../cli/fakeIo';
import { classifySamples, freePort } from './scrape';

const root = join(__dirname, '../..');
const HOLD = 3_600_000; // faults.latency: answers held until latency(0) releases them
const hasPrometheus = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasPrometheus) console.warn('skipped the real-Prometheus test: prometheus not installed (.ci/run installs Debian prometheus)');

interface Vector {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** An instant query through Prometheus's HTTP API; [] while it is not up yet. */
async function query(base: string, promql: string): Promise<Vector[]> {
  const body = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`).then(
    (r) => r.json() as Promise<{ status: string; data?: { result: Vector[] } }>,
    () => undefined,
  );
  return body?.status === 'success' ? (body.data?.result ?? []) : [];
}

/** What Prometheus logged, and whether it has exited: a test waiting on it stops with its log. */
const log = { text: '', exited: false };

/** Queries until the result satisfies `ready` (Prometheus scrapes and evaluates every 500 ms here). */
async function queryUntil(base: string, promql: string, ready: (v: Vector[]) => boolean): Promise<Vector[]> {
  for (;;) {
    if (log.exited) throw new Error(`prometheus exited:\n${log.text}`);
    const result = await query(base, promql);
    if (ready(result)) return result;
    await new Promise((r) => setTimeout(r, 200));
  }
}

(hasPrometheus ? describe : describe.skip)('a real Prometheus scraping serve and classify', () => {
  let prometheus: ChildProcess | undefined;
  let tmp: string;
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('evaluates the error-ratio rule on what it scraped: MODEL_ERROR above 0, the codes that never failed at 0', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'athena-prometheus-'));
    const [promPort, servePort, classifyPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(
      join(tmp, 'prometheus.yml'),
      [
        'global: { scrape_interval: 500ms, scrape_timeout: 500ms, evaluation_interval: 500ms }',
        `rule_files: ['${join(root, 'monitoring/athena-rx.rules.yml')}']`,
        'scrape_configs:',
        `  - { job_name: athena-rx, static_configs: [{ targets: ['127.0.0.1:${classifyPort}'] }] }`,
        `  - { job_name: athena-rx-serve, static_configs: [{ targets: ['127.0.0.1:${servePort}'] }] }`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(tmp, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(tmp, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (chunk: Buffer) => (log.text += chunk.toString()));
    prometheus.once('exit', () => (log.exited = true));
    const base = `http://127.0.0.1:${promPort}`;

    // serve: the standalone server, scraped for its deployments' gauges.
    const serveIo = fakeIo();
    const abort = new AbortController();
    const served = runServe(['--port', '0', '--metrics-port', String(servePort)], serveIo, abort.signal);
    await queryUntil(base, 'up{job="athena-rx-serve"} == 1', (v) => v.length === 1);

    // classify, against an in-process server whose answers the test holds and fails.
    const server = await startAthenaServer();
    server.faults.latency(HOLD);
    let first: string | undefined;
    let holdOpen = true;
    server.faults.modelErrorFor((id) => {
      first ??= id;
      if (id !== first && holdOpen) server.faults.latency(HOLD); // the next image's answer holds the run open
      return id === first;
    });
    const io = fakeIo({ cwd: root });
    const flags = ['--batch-size', '1', '--in-flight', '1', '--deployment-id', 'e2e', '--metrics-port', String(classifyPort)];
    const run = main(classifySamples(server.address, ...flags), io);
    try {
      // Prometheus has scraped the failure counters at 0 before any answer: then the answers flow.
      const code = 'athena_error_code="ERROR_CODE_MODEL_ERROR"';
      await queryUntil(base, `athena_client_outputs_total{job="athena-rx",${code}} == 0`, (v) => v.length === 1);
      server.faults.latency(0);

      const ratio = await queryUntil(
        base,
        `job_deployment_code:athena_client_outputs_failed_per_outputs:ratio_rate5m{job="athena-rx",${code}} > 0`,
        (v) => v.length === 1,
      );
      expect(ratio[0]!.metric).toEqual({
        __name__: 'job_deployment_code:athena_client_outputs_failed_per_outputs:ratio_rate5m',
        job: 'athena-rx',
        athena_deployment_id: 'e2e',
        athena_error_code: 'ERROR_CODE_MODEL_ERROR',
      });
      // The first image failed at each of its 4 attempts and nothing else was answered yet: 1.
      expect(Number(ratio[0]!.value[1])).toBe(1);
      const quiet = await query(
        base,
        'job_deployment_code:athena_client_outputs_failed_per_outputs:ratio_rate5m{job="athena-rx",athena_error_code="ERROR_CODE_IMAGE_TOO_LARGE"}',
      );
      expect(quiet.map((v) => Number(v.value[1]))).toEqual([0]);
      expect((await query(base, 'target_info{job="athena-rx"}'))[0]?.metric.service_name).toBe('athena-rx');
    } finally {
      // The first image keeps failing (the run exits 1); the others are answered at once.
      holdOpen = false;
      server.faults.latency(0);
      const status = await run;
      await server.stop();
      abort.abort();
      await served;
      expect(status).toBe(1);
    }
  }, 120_000);
});
