/** `athena.client.token.failures`: what an alert on a failing token endpoint reads (issue 21). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { main } from '../../src/cli/main';
import { INSTRUMENTS, observeTokens } from '../../src/metrics';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { oauthClientCredentials } from '../../src/transport';
import { fakeIo } from '../cli/fakeIo';
import { parseScrape, series } from './scrape';

class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('observeTokens', () => {
  let endpoint: Server;
  let url: string;
  let status = 503;
  let tmp: string;
  let athena: AthenaTestServer;
  beforeAll(async () => {
    // A real token endpoint on loopback: 503 until a test says otherwise.
    endpoint = createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? JSON.stringify({ access_token: 'tok', expires_in: 3600, token_type: 'Bearer' }) : '{"error":"unavailable"}');
    });
    await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/oauth/token`;
    tmp = mkdtempSync(join(tmpdir(), 'athena-token-'));
    athena = await startAthenaServer();
  });
  afterAll(async () => {
    await new Promise((r) => endpoint.close(r));
    rmSync(tmp, { recursive: true, force: true });
    await athena.stop();
  });

  it('counts each token that could not be had, by code; every code starts at 0; a token had counts nothing', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    // retryBudgetMs 0: each getToken() is one request, so that each 503 is one counted failure at
    // once (the default retries a 5xx for 10 s of real time).
    const tokens = observeTokens(oauthClientCredentials({ clientId: 'id', clientSecret: 'secret', tokenUrl: url, retryBudgetMs: 0 }), {
      meter: provider.getMeter('athena-rx'),
    });
    const count = async () => {
      const { resourceMetrics } = await reader.collect();
      const m = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === INSTRUMENTS.tokenFailures.name);
      return Object.fromEntries((m?.dataPoints as DataPoint<number>[]).map((p) => [p.attributes['athena.error.code'], p.value]));
    };
    expect(await count()).toEqual({
      TOKEN_REQUEST_FAILED: 0,
      TOKEN_ENDPOINT_UNREACHABLE: 0,
      TOKEN_RESPONSE_INVALID: 0,
      TOKEN_REDIRECT_REFUSED: 0,
      TOKEN_URL_NOT_LOOPBACK: 0,
    });
    status = 503;
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'TOKEN_REQUEST_FAILED' });
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'TOKEN_REQUEST_FAILED' });
    status = 200;
    await expect(tokens.getToken()).resolves.toBe('tok');
    expect((await count()).TOKEN_REQUEST_FAILED).toBe(2);
    expect(tokens.expiresAt()).toBeGreaterThan(Date.now()); // the provider's own methods pass through
    await provider.shutdown();
  });

  it('is wired into the CLI: a run refused for want of a token says so in its metrics', async () => {
    status = 503;
    const textfile = join(tmp, 'token.prom');
    const io = fakeIo({ env: { ATHENA_CLIENT_ID: 'id', ATHENA_CLIENT_SECRET: 'secret-value', ATHENA_TOKEN_URL: url } });
    // --token-timeout 1: the 503s are retried for 1 s, not the default 10 s of real time.
    const args = [
      'classify',
      join(__dirname, '../../samples'),
      ...['--address', athena.address, '--insecure', '--allow-plaintext-credentials', '--token-timeout', '1'],
    ];
    expect(await main([...args, '--metrics-textfile', textfile], io)).toBe(3);
    const written = parseScrape(readFileSync(textfile, 'utf8'));
    expect(
      series(written, 'athena_client_token_failures_total', { athena_error_code: 'TOKEN_REQUEST_FAILED' })[0]?.value,
    ).toBeGreaterThanOrEqual(1);
  });
});
