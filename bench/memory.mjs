// Memory: peak RSS while classifying 200 images and while classifying 2,000 of the same kind
// against a deliberately slow server, each in a fresh child process so that the peaks are
// independent. A ratio near 1.0 says the pipeline's memory is bounded by its window, not by the
// number of images. Prints ratios, never asserts.
//
//   npm run build && node bench/memory.mjs [--quick] [--small N] [--large N] [--latency MS]
//
// Source: file paths of the sample photos (samples/) repeated, so that the source itself holds
// nothing per image and every image is read when preprocess gets to it. Peak RSS is the child's
// VmHWM (/proc/self/status), which includes the baseline of a process that loaded the package
// and opened a channel; the child also reports the peak of sampled RSS and heap.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { f1, f2, load, mb, median, peakRss, runChild, samplePhotos, startServerProcess } from './lib.mjs';

const self = fileURLToPath(import.meta.url);

export async function benchMemory({ quick = false, small, large, latency, reps, log = console.log } = {}) {
  const nSmall = small ?? 200;
  const nLarge = large ?? (quick ? 800 : 2000);
  // 2 s per response: slow enough that the pipeline, not the server, is what waits, so both runs
  // fill the window (at 1 s the 200-image run ended before it did, and the ratio measured that).
  const ms = latency ?? 2000;
  const repeat = reps ?? 1;
  const server = await startServerProcess({ latency: ms });
  const runs = { small: [], large: [] };
  try {
    for (let r = 0; r < repeat; r++) {
      runs.small.push(await runChild(self, ['--child', '--images', String(nSmall), '--address', server.address]));
      runs.large.push(await runChild(self, ['--child', '--images', String(nLarge), '--address', server.address]));
    }
  } finally {
    await server.stop();
  }
  const m = (k, key) => median(runs[k].map((x) => x[key]));
  const result = {
    latency: ms,
    small: {
      images: nSmall,
      peakRss: m('small', 'peakRss'),
      sampledRss: m('small', 'sampledRss'),
      heap: m('small', 'heap'),
      external: m('small', 'external'),
      perS: m('small', 'perS'),
      highWater: m('small', 'highWater'),
    },
    large: {
      images: nLarge,
      peakRss: m('large', 'peakRss'),
      sampledRss: m('large', 'sampledRss'),
      heap: m('large', 'heap'),
      external: m('large', 'external'),
      perS: m('large', 'perS'),
      highWater: m('large', 'highWater'),
    },
  };
  result.ratio = result.large.peakRss / result.small.peakRss;
  log(
    `\nmemory: classifyImages defaults, server latency ${ms} ms per response, a fresh process per run${repeat > 1 ? `, median of ${repeat}` : ''}`,
  );
  log('| images | peak RSS MB (VmHWM) | sampled RSS peak MB | heap peak MB | external peak MB | window high water | images/s |');
  log('|--:|--:|--:|--:|--:|--:|--:|');
  for (const k of ['small', 'large']) {
    const x = result[k];
    log(`| ${x.images} | ${mb(x.peakRss)} | ${mb(x.sampledRss)} | ${mb(x.heap)} | ${mb(x.external)} | ${x.highWater} | ${f1(x.perS)} |`);
  }
  log(`ratio ${nLarge}:${nSmall} peak RSS ${f2(result.ratio)} (target <= 1.2)`);
  return result;
}

/** In the child: classify `images` paths against `address`, report peaks as one JSON line. */
async function child(images, address) {
  const { athena, rxjs } = load();
  const { from, lastValueFrom, count, tap } = rxjs;
  const photos = samplePhotos();
  let sampledRss = 0;
  let heap = 0;
  let external = 0;
  const sample = () => {
    const u = process.memoryUsage();
    if (u.rss > sampledRss) sampledRss = u.rss;
    if (u.heapUsed > heap) heap = u.heapUsed;
    if (u.external > external) external = u.external;
  };
  const timer = setInterval(sample, 20);
  const client = athena.createAthenaClient({ address, credentials: athena.insecure() });
  const window = athena.inFlightWindow(athena.DEFAULT_WINDOW);
  let failures = 0;
  const t = performance.now();
  const n = await lastValueFrom(
    from(Array.from({ length: images }, (_, i) => photos[i % photos.length].path)).pipe(
      athena.classifyImages(client, { window }),
      tap((r) => {
        if (r.kind !== 'success') failures++;
      }),
      count(),
    ),
  );
  const seconds = (performance.now() - t) / 1000;
  clearInterval(timer);
  sample();
  client.close();
  if (n !== images || failures) throw new Error(`memory child: ${n} results of ${images}, ${failures} not successes`);
  process.stdout.write(
    JSON.stringify({ images, peakRss: peakRss(), sampledRss, heap, external, perS: images / seconds, highWater: window.highWater }) + '\n',
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean', default: false },
      address: { type: 'string' },
      images: { type: 'string' },
      quick: { type: 'boolean', default: false },
      small: { type: 'string' },
      large: { type: 'string' },
      latency: { type: 'string' },
      reps: { type: 'string' },
    },
  });
  if (values.child) {
    await child(Number(values.images), values.address);
    process.exit(0);
  } else {
    const num = (v) => (v === undefined ? undefined : Number(v));
    await benchMemory({
      quick: values.quick,
      small: num(values.small),
      large: num(values.large),
      latency: num(values.latency),
      reps: num(values.reps),
    });
  }
}
