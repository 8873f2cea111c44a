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
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuMs, f1, f2, load, median, percentile, runChild, samplePhotos, separateCpus, startServerProcess } from './lib.mjs';

const RAW = 448 * 448 * 3;
const NO_PIXELS = '32, 1 byte of pixels';

export async function benchEndToEnd({ quick = false, images, reps, batches = [1, 10, 32, 50], log = console.log } = {}) {
  const { athena, rxjs } = load();
  const { from, lastValueFrom, tap, count } = rxjs;
  const n = images ?? (quick ? 96 : 320);
  const repeat = reps ?? (quick ? 1 : 3);
  const photos = samplePhotos();
  const sources = Array.from({ length: n }, (_, i) => ({ source: photos[i % photos.length].bytes, ref: i }));

  const server = await startServerProcess();
  const timed = ({ stripPixels = false } = {}) => {
    const starts = new Float64Array(n);
    const prepare = async (input) => {
      starts[input.ref] = performance.now();
      const image = await athena.prepareImage(input);
      // The diagnostic row: everything prepared as usual, but one byte of pixels on the wire.
      return stripPixels ? { ...image, data: image.data.subarray(0, 1) } : image;
    };
    return { starts, prepare };
  };

  const preprocessOnly = async () => {
    const { prepare } = timed();
    const cpu0 = cpuMs();
    const t = performance.now();
    const c = await lastValueFrom(from(sources).pipe(athena.preprocess({ prepare }), count()));
    return { perS: (1000 * c) / (performance.now() - t), cpuPerImage: (cpuMs() - cpu0) / c };
  };

  // `NO_PIXELS` is batch 32 with each image's data cut to one byte after preparing it: the server
  // answers every image with an error, and the difference from batch 32 is what carrying 602,112
  // bytes per image through protobufjs, grpc-js, HTTP/2 and both heaps costs.
  const endToEnd = async (key) => {
    const stripPixels = key === NO_PIXELS;
    const batch = stripPixels ? 32 : key;
    const client = athena.createAthenaClient({ address: server.address, credentials: athena.insecure() });
    const { starts, prepare } = timed({ stripPixels });
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
          if (r.kind !== (stripPixels ? 'failure' : 'success')) failures++;
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
    if (latencies.length !== n || failures) throw new Error(`e2e ${key}: ${latencies.length} results of ${n}, ${failures} unexpected`);
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

  const rows = new Map([...batches, 'defaults', ...(batches.includes(32) ? [NO_PIXELS] : [])].map((b) => [b, []]));
  const base = [];
  for (let r = 0; r < repeat; r++) {
    // Interleaved, so that every figure and its baseline see the same machine load.
    for (const b of rows.keys()) {
      base.push(await preprocessOnly());
      rows.get(b).push(await endToEnd(b));
    }
  }
  await server.stop();

  const baseline = median(base.map((x) => x.perS));
  const baseCpu = median(base.map((x) => x.cpuPerImage));
  const result = { images: n, reps: repeat, preprocessOnly: baseline, preprocessOnlyCpuPerImage: baseCpu, batches: {} };
  log(
    `\nend to end: ${n} images (samples/ repeated), median of ${repeat}; preprocess-only ${f1(baseline)} images/s, ${f2(baseCpu)} CPU ms/image`,
  );
  // CPU ratios, beside the throughput ratio: preprocess-only CPU per image over what end to end
  // costs the client alone, and the client and the server together. The server shares this
  // machine's cores, so the second bounds the throughput ratio when every core is busy.
  log(
    '| batch | images/s | / preprocess-only | latency p50 ms | p99 ms | prepare p50 ms | round trip p50 ms | client CPU ms/image | server CPU ms/image | CPU ratio, client | CPU ratio, client + server |',
  );
  log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const [b, runs] of rows) {
    const m = (k) => median(runs.map((x) => x[k]));
    const row = {
      perS: m('perS'),
      ratio: m('perS') / baseline,
      p50: m('p50'),
      p99: m('p99'),
      prepareP50: m('prepareP50'),
      roundTripP50: m('roundTripP50'),
      clientCpuPerImage: m('clientCpuPerImage'),
      serverCpuPerImage: m('serverCpuPerImage'),
    };
    row.cpuRatioClient = baseCpu / row.clientCpuPerImage;
    row.cpuRatioBoth = baseCpu / (row.clientCpuPerImage + row.serverCpuPerImage);
    result.batches[b] = row;
    log(
      `| ${b} | ${f1(row.perS)} | ${f2(row.ratio)} | ${f1(row.p50)} | ${f1(row.p99)} | ${f1(row.prepareP50)} | ${f1(row.roundTripP50)} | ${f2(row.clientCpuPerImage)} | ${f2(row.serverCpuPerImage)} | ${f2(row.cpuRatioClient)} | ${f2(row.cpuRatioBoth)} |`,
    );
  }
  return result;
}

/**
 * The same benchmark with the client and the server on CPUs of their own (`separateCpus()`): the
 * client in a child process under `taskset` (its preprocess-only baseline too), the server on the
 * remaining CPU, as a remote service would be. Undefined where CPUs cannot be separated.
 */
export async function benchEndToEndSeparateCpus({ quick = false, batches = [32] } = {}) {
  const cpus = separateCpus();
  if (!cpus) return undefined;
  // Five repetitions, not three: with one CPU the client's figures move more from run to run.
  const args = ['--json', '--batches', batches.join(','), ...(quick ? ['--quick'] : ['--reps', '5'])];
  const result = await runChild(fileURLToPath(import.meta.url), args, {
    prefix: ['taskset', '-c', cpus.client],
    env: { BENCH_SERVER_CPUS: cpus.server },
  });
  return { ...result, cpus };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      images: { type: 'string' },
      reps: { type: 'string' },
      batches: { type: 'string' },
      // The tables to stderr and the result as JSON on the last stdout line (for runChild).
      json: { type: 'boolean', default: false },
    },
  });
  const result = await benchEndToEnd({
    quick: values.quick,
    images: values.images ? Number(values.images) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
    batches: values.batches ? values.batches.split(',').map(Number) : undefined,
    log: values.json ? console.error : console.log,
  });
  if (values.json) console.log(JSON.stringify(result));
}
