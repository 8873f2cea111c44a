// Draws docs/monitoring-run.png from a real run: a real Prometheus (Debian's `prometheus`) scrapes
// the CLI's metrics endpoint every second while a client classifies the shipped samples, over and
// over, against the in-process server; the server's MODEL_ERROR rate goes from 2% to 20% halfway.
// The curves are Prometheus's own answers to query_range, drawn as SVG and rendered by sharp.
//
//   npm run build && node scripts/monitoring-figure.mjs [seconds]     (default 60)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { startMetricsEndpoint } = require(join(root, 'dist/cjs/cli/metricsEndpoint.js'));
const { classifyImages, createAthenaClient, insecure, pipelineMetrics } = require(join(root, 'dist/cjs/index.js'));
const { startAthenaServer } = require(join(root, 'dist/cjs/testing/index.js'));
const { from, lastValueFrom, toArray } = require('rxjs');
const sharp = require('sharp');

const seconds = Number(process.argv[2] ?? 60);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const tmp = mkdtempSync(join(tmpdir(), 'athena-figure-'));
const [promPort, metricsPort] = [await freePort(), await freePort()];
writeFileSync(
  join(tmp, 'prometheus.yml'),
  `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - { job_name: athena-rx, static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }] }\n`,
);
const prometheus = spawn(
  'prometheus',
  [
    `--config.file=${join(tmp, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(tmp, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=error',
  ],
  { stdio: 'inherit' },
);
const api = `http://127.0.0.1:${promPort}/api/v1`;

const server = await startAthenaServer();
server.faults.modelErrorRate(0.02);
const endpoint = await startMetricsEndpoint({ port: metricsPort });
const metrics = pipelineMetrics({ meter: endpoint.meter, deploymentId: 'figure' });
const client = createAthenaClient({ address: server.address, credentials: insecure(), deploymentId: 'figure' });
const samples = readdirSync(join(root, 'samples'))
  .filter((f) => /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i.test(f))
  .map((f) => join(root, 'samples', f));

const start = Date.now() / 1000;
let images = 0;
while (Date.now() / 1000 - start < seconds) {
  if (Date.now() / 1000 - start > seconds / 2) server.faults.modelErrorRate(0.2);
  const results = await lastValueFrom(from(samples).pipe(classifyImages(client, { metrics, batch: { maxWait: 5 } }), toArray()));
  images += results.length;
}
await sleep(3000); // a last scrape or two
const end = Date.now() / 1000;

async function range(query) {
  const url = `${api}/query_range?query=${encodeURIComponent(query)}&start=${start}&end=${end}&step=1`;
  const body = await (await fetch(url)).json();
  return body.data.result.map((r) => ({ metric: r.metric, points: r.values.map(([t, v]) => [t - start, Number(v)]) }));
}
const panels = [
  {
    title: 'Images finished per second, by outcome',
    series: await range('sum by (athena_outcome) (rate(athena_client_images_total[10s]))'),
    label: (m) => m.athena_outcome,
  },
  {
    title: 'Service error ratio by code (failed answers / answers)',
    series: (
      await range(
        'sum by (athena_error_code) (rate(athena_client_outputs_total{athena_outcome="failure"}[10s])) / ignoring (athena_error_code) group_left sum(rate(athena_client_outputs_total[10s]))',
      )
    ).filter((s) => s.points.some(([, v]) => v > 0)),
    label: (m) => m.athena_error_code,
  },
  {
    title: 'Round trip, first send to final answer (s)',
    series: [
      ...(await range('histogram_quantile(0.5, sum by (le) (rate(athena_client_classify_duration_seconds_bucket[10s])))')).map((s) => ({
        ...s,
        metric: { q: 'p50' },
      })),
      ...(await range('histogram_quantile(0.95, sum by (le) (rate(athena_client_classify_duration_seconds_bucket[10s])))')).map((s) => ({
        ...s,
        metric: { q: 'p95' },
      })),
    ],
    label: (m) => m.q,
  },
];

client.close();
metrics.dispose();
await endpoint.stop();
await server.stop();
prometheus.kill('SIGTERM');
await new Promise((r) => prometheus.once('exit', r));
rmSync(tmp, { recursive: true, force: true });

// SVG: one panel per query, time on x (seconds since the start), each series a line.
const W = 1000;
const PH = 220;
const colours = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${panels.length * PH + 40}" font-family="DejaVu Sans, sans-serif" font-size="12">`;
svg += `<rect width="100%" height="100%" fill="white"/>`;
svg += `<text x="10" y="22" font-size="14" font-weight="bold">${esc(`${images} images (the 8 samples, repeated) in ${Math.round(end - start)} s, scraped every 1 s by Prometheus; server MODEL_ERROR fault 2%, then 20%`)}</text>`;
panels.forEach((panel, i) => {
  const top = 40 + i * PH;
  const [x0, x1, y0, y1] = [60, W - 200, top + 25, top + PH - 30];
  const values = panel.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = Math.max(...values, 1e-9) * 1.1;
  const tMax = end - start;
  const X = (t) => x0 + (t / tMax) * (x1 - x0);
  const Y = (v) => y1 - (v / max) * (y1 - y0);
  svg += `<text x="${x0}" y="${top + 15}" font-weight="bold">${esc(panel.title)}</text>`;
  svg += `<line x1="${x0}" y1="${y1}" x2="${x1}" y2="${y1}" stroke="#888"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#888"/>`;
  for (let k = 0; k <= 4; k++) {
    const v = (max / 4) * k;
    svg += `<text x="${x0 - 5}" y="${Y(v) + 4}" text-anchor="end" fill="#555">${esc(v < 1 ? v.toFixed(2) : v.toFixed(0))}</text>`;
    svg += `<line x1="${x0}" y1="${Y(v)}" x2="${x1}" y2="${Y(v)}" stroke="#eee"/>`;
  }
  for (let t = 0; t <= tMax; t += 10) svg += `<text x="${X(t)}" y="${y1 + 15}" text-anchor="middle" fill="#555">${t}s</text>`;
  panel.series.forEach((s, k) => {
    const pts = s.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => `${X(t).toFixed(1)},${Y(v).toFixed(1)}`);
    if (pts.length === 0) return;
    svg += `<polyline fill="none" stroke="${colours[k % colours.length]}" stroke-width="2" points="${pts.join(' ')}"/>`;
    svg += `<text x="${x1 + 10}" y="${y0 + 15 + k * 16}" fill="${colours[k % colours.length]}">${esc(panel.label(s.metric) ?? '')}</text>`;
  });
});
svg += '</svg>';
const out = join(root, 'docs/monitoring-run.png');
await sharp(Buffer.from(svg)).png().toFile(out);
console.log(`${out}: ${images} images in ${Math.round(end - start)} s`);
