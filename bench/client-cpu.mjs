// The client's CPU per image end to end (classifyImages at batch 32, raw pixels) against
// preprocess-only, with the server on a CPU of its own, over plaintext and over TLS. The issue's
// target: end to end at most 1.10x preprocess-only. Prints ratios, never asserts.
//
//   npm run build && node bench/client-cpu.mjs [--quick] [--rounds N] [--images N]
//
// The client and its baseline run in a child process pinned with `taskset` to the CPUs the
// server does not have (`separateCpus()`; the server gets the last CPU), so the server's CPU is
// not the client's. Where CPUs cannot be separated the same runs happen unpinned (and say so).
// Each round runs preprocess-only, plaintext and TLS over the same images (the photos of samples/
// repeated, in memory), in an order that rotates from round to round; CPU is the process's own
// (process.cpuUsage: every thread, libvips' and libuv's included). The ratio is taken within each
// round and the median of the rounds reported, so that a busy machine moves both sides together.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { cpuMs, f2, load, median, runChild, samplePhotos, selfSignedCert, separateCpus, startServerProcess } from './lib.mjs';

const RAW = 448 * 448 * 3;
const BATCH = 32;
const KINDS = ['preprocess only', 'plaintext', 'TLS'];

/** The measurement itself, in this process (the parent pins it). */
export async function measureClientCpu({ quick = false, rounds, images, log = console.log } = {}) {
  const { athena, rxjs } = load();
  const { from, lastValueFrom, count, tap } = rxjs;
  const n = images ?? (quick ? 128 : 320);
  const r = rounds ?? (quick ? 2 : 5);
  const photos = samplePhotos();
  const sources = Array.from({ length: n }, (_, i) => ({ source: photos[i % photos.length].bytes, ref: i }));
  const cert = selfSignedCert();
  const plain = await startServerProcess();
  const secure = cert ? await startServerProcess({ tls: cert }) : undefined;
  const clients = {
    plaintext: athena.createAthenaClient({ address: plain.address, credentials: athena.insecure() }),
    ...(secure
      ? {
          TLS: athena.createAthenaClient({
            address: `localhost:${secure.address.split(':').pop()}`,
            credentials: athena.tls({ rootCerts: cert.cert }),
          }),
        }
      : {}),
  };
  // maxWait long enough that every batch fills to 32 even when preparing is slow (a loaded or
  // pinned CPU prepares 5 images in the default 50 ms); the last one flushes on completion.
  const options = { batch: { maxCount: BATCH, maxBytes: BATCH * RAW + 64 * 1024, maxWait: 10_000 } };

  const run = async (kind) => {
    const cpu0 = cpuMs();
    const t = performance.now();
    let failures = 0;
    const done =
      kind === 'preprocess only'
        ? await lastValueFrom(from(sources).pipe(athena.preprocess(), count()))
        : await lastValueFrom(
            from(sources).pipe(
              athena.classifyImages(clients[kind], options),
              tap((x) => {
                if (x.kind !== 'success') failures++;
              }),
              count(),
            ),
          );
    if (done !== n || failures) throw new Error(`client-cpu ${kind}: ${done} results of ${n}, ${failures} not successes`);
    return { cpuPerImage: (cpuMs() - cpu0) / n, perS: (1000 * n) / (performance.now() - t) };
  };

  const kinds = KINDS.filter((k) => k === 'preprocess only' || clients[k]);
  for (const k of kinds) await run(k); // warm-up: codecs, JIT, both channels and their handshakes
  const runs = Object.fromEntries(kinds.map((k) => [k, []]));
  const ratios = Object.fromEntries(kinds.slice(1).map((k) => [k, []]));
  for (let round = 0; round < r; round++) {
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
    const got = {};
    for (const k of order) got[k] = await run(k);
    for (const k of kinds) runs[k].push(got[k]);
    for (const k of kinds.slice(1)) ratios[k].push(got[k].cpuPerImage / got['preprocess only'].cpuPerImage);
    log(`round ${round + 1}: ${kinds.map((k) => `${k} ${f2(got[k].cpuPerImage)} ms`).join(', ')}`);
  }
  for (const c of Object.values(clients)) c.close();
  await plain.stop();
  await secure?.stop();
  if (cert) rmSync(cert.dir, { recursive: true, force: true });

  const result = { images: n, rounds: r, batch: BATCH, tls: Boolean(secure), rows: {} };
  for (const k of kinds) {
    result.rows[k] = {
      cpuPerImage: median(runs[k].map((x) => x.cpuPerImage)),
      perS: median(runs[k].map((x) => x.perS)),
      ratio: k === 'preprocess only' ? 1 : median(ratios[k]),
      ratios: k === 'preprocess only' ? [] : ratios[k],
    };
  }
  log(`\nclient CPU per image, batch ${BATCH}, ${n} images, median of ${r} rounds:`);
  log('| run | client CPU ms/image | images/s | / preprocess-only CPU (median of rounds) | per round |');
  log('|---|--:|--:|--:|---|');
  for (const [k, x] of Object.entries(result.rows)) {
    log(`| ${k} | ${f2(x.cpuPerImage)} | ${x.perS.toFixed(1)} | ${f2(x.ratio)} | ${x.ratios.map(f2).join(' ')} |`);
  }
  return result;
}

/** Runs {@link measureClientCpu} in a child pinned away from the server's CPU (where possible). */
export async function benchClientCpu({ quick = false, rounds, images } = {}) {
  const cpus = separateCpus();
  const args = [
    '--json',
    ...(quick ? ['--quick'] : []),
    ...(rounds ? ['--rounds', String(rounds)] : []),
    ...(images ? ['--images', String(images)] : []),
  ];
  const result = await runChild(
    fileURLToPath(import.meta.url),
    args,
    cpus ? { prefix: ['taskset', '-c', cpus.client], env: { BENCH_SERVER_CPUS: cpus.server } } : {},
  );
  return { ...result, cpus };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      images: { type: 'string' },
      json: { type: 'boolean', default: false },
      // Pin as `npm run bench` does (taskset), instead of measuring in this process.
      pinned: { type: 'boolean', default: false },
    },
  });
  const opts = {
    quick: values.quick,
    rounds: values.rounds ? Number(values.rounds) : undefined,
    images: values.images ? Number(values.images) : undefined,
  };
  if (values.pinned) {
    console.log(JSON.stringify(await benchClientCpu(opts)));
  } else {
    const result = await measureClientCpu({ ...opts, log: values.json ? console.error : console.log });
    if (values.json) console.log(JSON.stringify(result));
  }
}
