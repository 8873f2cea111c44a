import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { from, lastValueFrom, toArray } from 'rxjs';
import { INSTRUMENTS } from '../../src/metrics/instruments';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure } from '../../src/transport';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { rawImages } from '../pipeline/helpers';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * What a module could change when it is imported: globals, process listeners, the environment,
 * OpenTelemetry's global registrations. The libraries the package depends on are loaded first:
 * what they do on import is theirs; what is checked is what ours adds.
 *
 * One process imports the entries one after another, with the state taken before and after each:
 * every module of the package is first loaded inside one of those windows, so whatever it did on
 * import shows there (an entry whose modules an earlier entry loaded adds nothing, and must not).
 * A process per entry cost a second each to load the dependencies again.
 */
const probe = `
  const path = require('node:path');
  const dist = process.argv[1];
  for (const dep of ['rxjs', '@grpc/grpc-js', '@grpc/proto-loader', 'sharp', 'xxhash-wasm', 'tinyglobby', 'ioredis',
    '@opentelemetry/api', '@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus']) require(dep);
  const { metrics } = require('@opentelemetry/api');
  const state = () => JSON.stringify({
    globals: Reflect.ownKeys(globalThis).map(String).sort(),
    listeners: process.eventNames().map((e) => String(e) + '=' + process.listenerCount(e)).sort(),
    env: Object.keys(process.env).sort(),
    otel: Object.keys(globalThis[Symbol.for('opentelemetry.js.api.1')] ?? {}).sort(),
    meterProvider: metrics.getMeterProvider().constructor.name,
    exitCode: process.exitCode ?? null,
  });
  (async () => {
    const seen = {};
    for (const entry of process.argv.slice(2)) {
      const before = state();
      if (entry.endsWith('.mjs') || entry.includes('/esm/')) await import(path.join(dist, entry));
      else require(path.join(dist, entry));
      const after = state();
      seen[entry] = { before: JSON.parse(before), after: JSON.parse(after) };
    }
    process.stdout.write(JSON.stringify(seen));
  })();
`;

/** Every entry point of package.json, as CommonJS and as ES module, and the metrics layer on its own. */
const entries = [
  'cjs/index.js',
  'cjs/testing/index.js',
  'cjs/redis/index.js',
  'cjs/metrics/index.js',
  'esm/index.js',
  'esm/testing/index.js',
  'esm/redis/index.js',
];

/** Collects on demand. */
class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('classifyImages has its default metrics whatever was imported (no registration on import)', () => {
  let server: AthenaTestServer;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());

  it('records to the global meter when only its own module was imported (not the package entry, not src/metrics)', async () => {
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    try {
      let loaded: typeof import('../../src/pipeline/classifyImages') | undefined;
      jest.isolateModules(() => {
        loaded = jest.requireActual<typeof import('../../src/pipeline/classifyImages')>('../../src/pipeline/classifyImages');
      });
      const client = createAthenaClient({ address: server.address, credentials: insecure() });
      const results = await lastValueFrom(from(rawImages(3)).pipe(loaded!.classifyImages<number>(client), toArray()));
      client.close();
      expect(results.filter((r) => r.kind === 'success')).toHaveLength(3);
      const { resourceMetrics } = await reader.collect();
      const images = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === INSTRUMENTS.images.name);
      expect((images?.dataPoints ?? []).reduce((n, p) => n + (p.value as number), 0)).toBe(3);
    } finally {
      metrics.disable();
    }
  });
});

describe('importing the package changes nothing (package.json "sideEffects": false)', () => {
  let pkg: PackageCopy;
  let seen: Record<string, { before: unknown; after: unknown }>;
  // The package's build may happen here, when dist/ is not current: about 10 s on the idle machine.
  beforeAll(async () => {
    pkg = await transpiledPackage();
    const { stdout } = await run(process.execPath, ['-e', probe, path.join(pkg.dir, 'dist'), ...entries], { cwd: pkg.dir });
    seen = JSON.parse(stdout) as typeof seen;
  }, 120_000);
  afterAll(() => pkg?.remove());

  it('declares "sideEffects": false: no module of it does anything on import', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { sideEffects?: unknown };
    expect(manifest.sideEffects).toBe(false);
  });

  it.each(entries)('importing %s leaves globals, process listeners, the environment and OpenTelemetry as they were', (entry) => {
    const { before, after } = seen[entry]!;
    expect(after).toEqual(before);
  });
});
