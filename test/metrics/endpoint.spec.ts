/**
 * The CLI's metrics endpoint read as a Prometheus user reads it (issue 21): the service name from
 * the environment, unit suffixes, failure counters at 0 from the start, only this client's
 * deployments; loopback by default; a taken port exits 2 before any work, for every command.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServe } from '../../src/cli/commands/serve';
import { main } from '../../src/cli/main';
import { INSTRUMENTS } from '../../src/metrics/instruments';
import { prometheusName } from '../../src/metrics/naming';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { fakeIo } from '../cli/fakeIo';
import { classifySamples, freePort, hasPromtool, parseScrape, scrape, series, takePort, type Sample } from './scrape';

const root = join(__dirname, '../..');
const HOLD = 3_600_000; // faults.latency: answers held until latency(0) releases them

/** Runs `fn` with `name` set in the process environment, where the SDK's resource detector reads it. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Scrapes `url` until `ready` holds for what it read (the command is starting up meanwhile). */
async function scrapeUntil(url: string, ready: (samples: Sample[]) => boolean): Promise<{ text: string; samples: Sample[] }> {
  for (;;) {
    const text = await scrape(url);
    if (text !== undefined) {
      const samples = parseScrape(text);
      if (ready(samples)) return { text, samples };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('classify --metrics-port and --metrics-textfile', () => {
  let server: AthenaTestServer;
  let tmp: string;
  beforeAll(async () => {
    server = await startAthenaServer();
    tmp = mkdtempSync(join(tmpdir(), 'athena-endpoint-'));
  });
  afterAll(async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('shows service_name from OTEL_SERVICE_NAME, failure counters at 0 before any answer, and only our deployment; the textfile has _seconds histograms', async () => {
    const port = await freePort();
    const textfile = join(tmp, 'athena.prom');
    const io = fakeIo({ cwd: root });
    server.faults.latency(HOLD);
    const args = classifySamples(server.address);
    const run = withEnv({ OTEL_SERVICE_NAME: 'my-classifier', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test' }, async () => {
      const done = main([...args, '--deployment-id', 'own-run', '--metrics-port', String(port), '--metrics-textfile', textfile], io);
      // While every answer is held: the counters are there already, at 0.
      const during = await scrapeUntil(`http://127.0.0.1:${port}/metrics`, (s) => series(s, 'athena_client_images_total').length > 0);
      server.faults.latency(0);
      return { during, status: await done };
    });
    const { during, status } = await run;
    expect(status).toBe(0);
    const s = during.samples;

    const target = series(s, 'target_info')[0]?.labels;
    expect(target).toMatchObject({ service_name: 'my-classifier', deployment_environment_name: 'test', telemetry_sdk_language: 'nodejs' });
    const own = { athena_deployment_id: 'own-run' };
    for (const [name, labels] of [
      ['athena_client_transport_failures_total', own],
      ['athena_client_retries_total', { ...own, athena_error_code: 'ERROR_CODE_MODEL_ERROR' }],
      ['athena_client_global_errors_total', { ...own, athena_error_code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' }],
      ['athena_client_outputs_total', { ...own, athena_outcome: 'failure', athena_error_code: 'ERROR_CODE_MODEL_ERROR' }],
      ['athena_client_images_total', { ...own, athena_outcome: 'failure', athena_error_code: 'TRANSPORT_FAILED' }],
      ['athena_client_reconnects_total', { ...own, athena_reason: 'failure' }],
      ['athena_client_preprocess_failures_total', { athena_error_code: 'DECODE_FAILED' }],
      ['athena_client_response_window_late_total', own],
    ] as const) {
      expect([name, series(s, name, labels).map((x) => x.value)]).toEqual([name, [0]]);
    }
    expect(series(s, 'athena_deployment_backlog').map((x) => [x.labels.athena_deployment_id, x.value])).toEqual([['own-run', 0]]);
    const deployments = new Set(s.map((x) => x.labels.athena_deployment_id).filter((d) => d !== undefined));
    expect([...deployments]).toEqual(['own-run']);

    // The end of the run, as the textfile has it: durations in seconds, by their suffix.
    const end = parseScrape(readFileSync(textfile, 'utf8'));
    expect(series(end, `${prometheusName(INSTRUMENTS.roundTrip)}_count`).reduce((a, x) => a + x.value, 0)).toBe(8);
    expect(series(end, 'athena_client_preprocess_duration_seconds_bucket', { le: '+Inf' })[0]?.value).toBe(8);
    expect(series(end, 'athena_client_classify_duration_bucket')).toEqual([]);
    expect(series(end, 'athena_client_images_total', { ...own, athena_outcome: 'success' })[0]?.value).toBe(8);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]); // renamed into place
    expect(io.err()).toContain(`metrics for Prometheus at http://127.0.0.1:${port}/metrics`);
  }, 60_000);

  it('writes a textfile that promtool check metrics accepts', async () => {
    const textfile = join(tmp, 'lint.prom');
    const io = fakeIo({ cwd: root });
    expect(await main(classifySamples(server.address, '--metrics-textfile', textfile), io)).toBe(0);
    expect(io.err()).not.toContain('metrics for Prometheus at'); // no endpoint without --metrics-port
    if (!hasPromtool()) {
      console.warn('skipped promtool check metrics: promtool not installed (.ci/run installs Debian prometheus)');
      return;
    }
    // promtool lints names and units by the Prometheus conventions; it exits non-zero on a problem.
    const lint = execFileSync('promtool', ['check', 'metrics'], { input: readFileSync(textfile), encoding: 'utf8' });
    expect(lint).toBe('');
  }, 60_000);

  it('refuses a textfile name node_exporter would not read, before any work', async () => {
    const io = fakeIo({ cwd: root });
    const answered = server.audit.length;
    expect(await main(classifySamples(server.address, '--metrics-textfile', join(tmp, 'x.txt')), io)).toBe(2);
    expect(io.err()).toContain('--metrics-textfile must end in .prom');
    expect(server.audit.length).toBe(answered);
  });
});

describe('where metrics listen', () => {
  /** Runs `serve` with `extra` metrics flags; returns whether 127.0.0.1 and 127.0.0.2 answer a scrape. */
  async function reachable(extra: string[]): Promise<{ loopback: boolean; other: boolean }> {
    const port = await freePort();
    const io = fakeIo();
    const abort = new AbortController();
    const done = runServe(['--port', '0', '--metrics-port', String(port), ...extra], io, abort.signal);
    while (!io.err().includes('metrics for Prometheus')) await new Promise((r) => setTimeout(r, 20));
    const at = {
      loopback: (await scrape(`http://127.0.0.1:${port}/metrics`)) !== undefined,
      other: (await scrape(`http://127.0.0.2:${port}/metrics`)) !== undefined,
    };
    abort.abort();
    expect(await done).toBe(0);
    return at;
  }

  it('binds 127.0.0.1 by default: another address of this host gets no answer', async () => {
    expect(await reachable([])).toEqual({ loopback: true, other: false });
  });

  it('binds what --metrics-host says (0.0.0.0: every interface)', async () => {
    expect(await reachable(['--metrics-host', '0.0.0.0'])).toEqual({ loopback: true, other: true });
  });
});

describe('a metrics port already taken exits 2 before any work', () => {
  let server: AthenaTestServer;
  let tmp: string;
  let taken: { port: number; release(): Promise<void> };
  beforeAll(async () => {
    server = await startAthenaServer();
    tmp = mkdtempSync(join(tmpdir(), 'athena-taken-'));
    taken = await takePort();
  });
  afterAll(async () => {
    await taken.release();
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('classify: the output is untouched and nothing is sent', async () => {
    const output = join(tmp, 'results.jsonl');
    writeFileSync(output, '{"kept":true}\n');
    const io = fakeIo({ cwd: root });
    const args = classifySamples(server.address, '--output', output, '--force');
    expect(await main([...args, '--metrics-port', String(taken.port)], io)).toBe(2);
    expect(io.err()).toContain(`--metrics-port ${taken.port}: cannot listen on 127.0.0.1:${taken.port}`);
    expect(readFileSync(output, 'utf8')).toBe('{"kept":true}\n');
    expect(server.audit).toHaveLength(0);
    expect(server.deployments()).toEqual([]);
  });

  it('serve: no server is started (no address printed)', async () => {
    const io = fakeIo();
    expect(await main(['serve', '--port', '0', '--metrics-port', String(taken.port)], io)).toBe(2);
    expect(io.out()).toBe('');
    expect(io.err()).toContain('cannot listen on 127.0.0.1');
  });

  /** A worker's command line whose Redis is a free port: nothing listens there, so a contact would fail. */
  const workerArgs = async (): Promise<string[]> => {
    const redisPort = await freePort();
    return [
      'worker',
      '--stream',
      'jobs',
      '--any-path',
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
      '--address',
      server.address,
      '--insecure',
    ];
  };

  it('worker: neither Redis nor the service is contacted', async () => {
    const io = fakeIo({ cwd: root });
    const args = await workerArgs();
    expect(await main([...args, '--metrics-port', String(taken.port)], io)).toBe(2);
    expect(io.err()).toContain('cannot listen on 127.0.0.1');
    expect(io.err()).not.toMatch(/redis/i);
  });

  it('worker: --metrics-host also places --health-port, without a metrics port (a probe of the pod address needs it)', async () => {
    const args = await workerArgs();
    const alone = fakeIo({ cwd: root });
    expect(await main([...args, '--metrics-host', '127.0.0.1'], alone)).toBe(2);
    expect(alone.err()).toContain('--metrics-host needs --metrics-port');
    // The taken port shows where the health endpoint tried to listen: on the host given.
    const io = fakeIo({ cwd: root });
    expect(await main([...args, '--metrics-host', '127.0.0.1', '--health-port', String(taken.port)], io)).toBe(2);
    expect(io.err()).toContain(`--health-port ${taken.port}: cannot listen on 127.0.0.1:${taken.port}`);
    expect(io.err()).not.toMatch(/redis/i);
  });
});
