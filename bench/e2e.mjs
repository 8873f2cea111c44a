// End to end: classifyImages against the in-process server running in another process, next to
// the preprocess-only throughput of the same images in the same run. Prints ratios, never asserts.
//
//   npm run build && node bench/e2e.mjs [--quick] [--images N] [--reps N] [--batches 1,10,32,50]
//
// Source: the sample photos (samples/, 448x448 to 1600x1200) repeated to --images, held in
// memory so that disk reads do not count. Each batch size is a fresh client and pipeline with
// default options except `batch.maxCount` and a byte budget that lets the batch fill with raw
// pixels (the default 4 MiB budget holds 6 raw images: the "defaults" row shows that case).
// Latency of an image: from the moment preprocess starts preparing it to its result.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { cpuMs, f1, f2, load, median, percentile, samplePhotos, startServerProcess } from './lib.mjs';

const RAW = 448 * 448 * 3;

export async function benchEndToEnd({ quick = false, images, reps, batches = [1, 10, 32, 50], log = console.log } = {}) {
  const { athena, rxjs } = load();
  const { from, lastValueFrom, tap, count } = rxjs;
  const n = images ?? (quick ? 96 : 320);
  const repeat = reps ?? (quick ? 1 : 3);
  const photos = samplePhotos();
  const sources = Array.from({ length: n }, (_, i) => ({ source: photos[i % photos.length].bytes, ref: i }));

  const server = await startServerProcess();
  const timed = () => {
    const starts = new Float64Array(n);
    const prepare = (input) => {
      starts[input.ref] = performance.now();
      return athena.prepareImage(input);
    };
    return { starts, prepare };
  };

  const preprocessOnly = async () => {
    const { prepare } = timed();
    const t = performance.now();
    const c = await lastValueFrom(from(sources).pipe(athena.preprocess({ prepare }), count()));
    return (1000 * c) / (performance.now() - t);
  };

  const endToEnd = async (batch) => {
    const client = athena.createAthenaClient({ address: server.address, credentials: athena.insecure() });
    const { starts, prepare } = timed();
    const latencies = [];
    const prepareMs = [];
    const roundTripMs = [];
    let failures = 0;
    const options = { preprocess: { prepare } };
    if (batch !== 'defaults') options.batch = { maxCount: batch, maxBytes: Math.max(4 * 1024 * 1024, batch * RAW + 64 * 1024) };
    const cpu0 = cpuMs();
    const scpu0 = await server.cpuMs();
    const t = performance.now();
    await lastValueFrom(
      from(sources).pipe(
        athena.classifyImages(client, options),
        tap((r) => {
          if (r.kind === 'foreign') return;
          if (r.kind !== 'success') failures++;
          latencies.push(performance.now() - starts[r.ref]);
          prepareMs.push(r.timings.prepareMs);
          if (r.timings.roundTripMs !== undefined) roundTripMs.push(r.timings.roundTripMs);
        }),
        count(),
      ),
    );
    const ms = performance.now() - t;
    const clientCpu = cpuMs() - cpu0;
    const serverCpu = (await server.cpuMs()) - scpu0;
    client.close();
    if (latencies.length !== n || failures) throw new Error(`e2e batch ${batch}: ${latencies.length} results of ${n}, ${failures} failures`);
    return {
      perS: (1000 * n) / ms,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      prepareP50: percentile(prepareMs, 50),
      roundTripP50: percentile(roundTripMs, 50),
      clientCpuPerImage: clientCpu / n,
      serverCpuPerImage: serverCpu / n,
    };
  };

  // Warm-up: codecs, JIT, the channel.
  await endToEnd(10);

  const rows = new Map([...batches, 'defaults'].map((b) => [b, []]));
  const base = [];
  for (let r = 0; r < repeat; r++) {
    // Interleaved, so that every figure and its baseline see the same machine load.
    for (const b of rows.keys()) {
      base.push(await preprocessOnly());
      rows.get(b).push(await endToEnd(b));
    }
  }
  await server.stop();

  const baseline = median(base);
  const result = { images: n, reps: repeat, preprocessOnly: baseline, batches: {} };
  log(`\nend to end: ${n} images (samples/ repeated), median of ${repeat}; preprocess-only ${f1(baseline)} images/s`);
  log('| batch | images/s | / preprocess-only | latency p50 ms | p99 ms | prepare p50 ms | round trip p50 ms | client CPU ms/image | server CPU ms/image |');
  log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const [b, runs] of rows) {
    const m = (k) => median(runs.map((x) => x[k]));
    const row = {
      perS: m('perS'), ratio: m('perS') / baseline, p50: m('p50'), p99: m('p99'), prepareP50: m('prepareP50'), roundTripP50: m('roundTripP50'),
      clientCpuPerImage: m('clientCpuPerImage'), serverCpuPerImage: m('serverCpuPerImage'),
    };
    result.batches[b] = row;
    log(`| ${b} | ${f1(row.perS)} | ${f2(row.ratio)} | ${f1(row.p50)} | ${f1(row.p99)} | ${f1(row.prepareP50)} | ${f1(row.roundTripP50)} | ${f2(row.clientCpuPerImage)} | ${f2(row.serverCpuPerImage)} |`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, images: { type: 'string' }, reps: { type: 'string' }, batches: { type: 'string' } },
  });
  await benchEndToEnd({
    quick: values.quick,
    images: values.images ? Number(values.images) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
    batches: values.batches ? values.batches.split(',').map(Number) : undefined,
  });
}
