// `npm run bench`: every benchmark of issue 6 in one go, against the built package (dist/cjs, or
// ATHENA_DIST). Prints one markdown table (figure, value, baseline, ratio, target, met?) after
// each benchmark's own table, and writes it all to bench/results.json. Every ratio is taken
// against a baseline measured in the same run; nothing here asserts a time.
//
//   npm run build && npm run bench [-- --quick] [-- preprocess e2e clientcpu peers peerse2e memory wire trickle redis clistart]
//
// --quick       fewer images and repetitions (a few minutes instead of about 10-15)
// names         run only these benchmarks (default: all), e.g. `npm run bench -- e2e trickle`
// --out FILE    where to write the JSON (default bench/results.json)
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchEndToEnd, benchEndToEndSeparateCpus } from './e2e.mjs';
import { distDir, f1, f2, here, mb } from './lib.mjs';
import { benchClientCpu } from './client-cpu.mjs';
import { benchCliStart } from './cli-start.mjs';
import { benchMemory } from './memory.mjs';
import { benchPeers } from './peers.mjs';
import { benchPeersE2e } from './peers-e2e.mjs';
import { benchRedis } from './redis.mjs';
import { benchTrickle } from './trickle.mjs';
import { benchWire } from './wire.mjs';

const ALL = ['preprocess', 'e2e', 'clientcpu', 'peers', 'peerse2e', 'memory', 'wire', 'trickle', 'redis', 'clistart'];
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { quick: { type: 'boolean', default: false }, out: { type: 'string', default: join(here, 'results.json') } },
});
const selected = positionals.length ? positionals : ALL;
for (const name of selected) if (!ALL.includes(name)) throw new Error(`unknown benchmark '${name}'; choose from ${ALL.join(', ')}`);
const quick = values.quick;

const rows = [];
const results = {};
const row = (figure, value, baseline, ratio, target, met) => rows.push({ figure, value, baseline, ratio, target, met });

/** Item 1 belongs to bench/preprocess.mjs (the preprocess issue): its `benchPreprocess(options)`. */
async function preprocessBench() {
  const { benchPreprocess } = await import('./preprocess.mjs');
  const r = await benchPreprocess({ quick, reps: quick ? 2 : 5 });
  return { operator: r.operator, decodeOnly: r.decodeOnly, ratio: r.ratio, backend: r.backend, raw: r };
}

const started = new Date();
console.log(`athena-rx bench${quick ? ' --quick' : ''}: ${selected.join(', ')}; dist ${distDir()}`);
console.log(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg().map(f2).join(' ')}`);

if (selected.includes('preprocess')) {
  console.log('\npreprocess (bench/preprocess.mjs):');
  const r = await preprocessBench();
  // Its own ratio when it gives one (the median of per-round ratios), else the ratio of the medians.
  const ratio = r.ratio ?? r.operator / r.decodeOnly;
  results.preprocess = { operator: r.operator, decodeOnly: r.decodeOnly, ratio, backend: r.backend };
  row('preprocess throughput (images/s)', f1(r.operator), `decode only ${f1(r.decodeOnly)}`, f2(ratio), '>= 0.8', ratio >= 0.8);
}

if (selected.includes('e2e')) {
  const r = await benchEndToEnd({ quick });
  results.e2e = r;
  for (const [b, x] of Object.entries(r.batches)) {
    const target = b === '32' ? '>= 0.8' : '';
    row(
      `end to end, batch ${b} (images/s; p50/p99 ms)`,
      `${f1(x.perS)}; ${f1(x.p50)}/${f1(x.p99)}`,
      `preprocess only ${f1(r.preprocessOnly)}`,
      f2(x.ratio),
      target,
      target ? x.ratio >= 0.8 : '',
    );
  }
  // Where the end-to-end time goes at batch 32: CPU per image against preprocess-only's.
  const x = r.batches['32'];
  if (x) {
    row(
      'end to end, batch 32, client CPU (ms/image)',
      f2(x.clientCpuPerImage),
      `preprocess only ${f2(r.preprocessOnlyCpuPerImage)}`,
      f2(x.cpuRatioClient),
      '',
      '',
    );
    row(
      'end to end, batch 32, client + server CPU (ms/image)',
      f2(x.clientCpuPerImage + x.serverCpuPerImage),
      `preprocess only ${f2(r.preprocessOnlyCpuPerImage)}`,
      f2(x.cpuRatioBoth),
      '',
      '',
    );
  }
  // Again with the server on a CPU of its own, as a remote service would be: above, it takes a
  // share of the client's cores (about 2 ms of CPU per image), which the target is not about.
  const s = await benchEndToEndSeparateCpus({ quick });
  if (s) {
    results.e2eSeparateCpus = s;
    for (const [b, x] of Object.entries(s.batches)) {
      const target = b === '32' ? '>= 0.8' : '';
      row(
        `end to end, server on its own CPU ${s.cpus.server}, batch ${b} (images/s; p50/p99 ms)`,
        `${f1(x.perS)}; ${f1(x.p50)}/${f1(x.p99)}`,
        `preprocess only ${f1(s.preprocessOnly)}`,
        f2(x.ratio),
        target,
        target ? x.ratio >= 0.8 : '',
      );
    }
  }
}

if (selected.includes('clientcpu')) {
  // Issue 14: the client's CPU per image end to end (batch 32, server on its own CPU) against
  // preprocess-only, plaintext and TLS; target at most 1.10x.
  console.log('\nclient CPU end to end (bench/client-cpu.mjs):');
  const r = await benchClientCpu({ quick });
  results.clientCpu = r;
  const where = r.cpus ? `server on CPU ${r.cpus.server}` : 'CPUs shared';
  const base = r.rows['preprocess only'];
  for (const k of ['plaintext', 'TLS']) {
    const x = r.rows[k];
    if (x)
      row(
        `client CPU per image, batch 32, ${k}, ${where} (ms)`,
        f2(x.cpuPerImage),
        `preprocess only ${f2(base.cpuPerImage)}`,
        f2(x.ratio),
        '<= 1.10',
        x.ratio <= 1.1,
      );
    else row(`client CPU per image, batch 32, ${k}`, 'not measured (no openssl)', '', '', '<= 1.10', '');
  }
}

if (selected.includes('peers')) {
  // Issues 14 and 20: the Python client's recipe on the photo corpus (bench/corpus.mjs), in the
  // same run, athena-rx with glibc's default malloc and with the CLI's settings.
  const r = await benchPeers({ quick });
  results.peers = r;
  if (!r.measured) {
    row('prepareImage CPU per image vs the Python client (OpenCV)', 'not measured (no python3-opencv)', '', '', '<= 1.0', '');
  } else {
    const m = r.modes;
    const both = (x) => `${f2(x.ours)}; as the CLI runs ${f2(x.cliMalloc)}`;
    const ratios = (x) => `${f2(x.ratio)}; ${f2(x.cliMallocRatio)}`;
    row(
      'prepareImage CPU/image, photo corpus, MD5+SHA1 (default) (ms)',
      both(m.client),
      `Python client's preparation (MD5+SHA-256) ${f2(m.client.theirs)}`,
      ratios(m.client),
      '<= 1.0',
      m.client.ratio <= 1 ? true : m.client.cliMallocRatio <= 1 ? 'as the CLI runs only' : false,
    );
    if (m.clientWorker) {
      row(
        "prepareImage CPU/image, photo corpus, MD5+SHA1, decodeThread: 'worker' (ms)",
        both(m.clientWorker),
        `Python client's preparation (MD5+SHA-256) ${f2(m.clientWorker.theirs)}`,
        ratios(m.clientWorker),
        '',
        '',
      );
    }
    row(
      'prepareImage CPU/image, photo corpus, no hashes (ms)',
      both(m.prepareNoHashes),
      `Python read + decode + resize ${f2(m.prepareNoHashes.theirs)}`,
      ratios(m.prepareNoHashes),
      '',
      '',
    );
    row('decode only CPU/image, photo corpus (ms)', both(m.decode), `cv2.imdecode ${f2(m.decode.theirs)}`, ratios(m.decode), '', '');
    // The resize twice: just after decoding (on our side the collection that the decoded image
    // makes due often lands in it), and of an image in memory (docs/performance.md, The resize).
    for (const [mode, label] of [
      ['resize', 'just after decoding'],
      ['resizeInMemory', 'an image in memory'],
    ]) {
      const x = m[mode];
      if (!x) continue;
      row(
        `resize only CPU/image, photo corpus, ${label} (ms)`,
        both(x),
        `cv2.resize ${f2(x.theirs)}`,
        ratios(x),
        '<= 1.5',
        x.ratio <= 1.5 ? true : x.cliMallocRatio <= 1.5 ? 'as the CLI runs only' : false,
      );
    }
    row('prepared pixels identical to OpenCV, photo corpus', `${r.identical}/${r.compared}`, '', '', 'all', r.identical === r.compared);
    row(
      'compact wire (png) read back by cv2.imdecode identical',
      `${r.pngIdentical}/${r.pngCompared}`,
      '',
      '',
      'all',
      r.pngIdentical === r.pngCompared,
    );
  }
}

if (selected.includes('peerse2e')) {
  // Issue 20: the CLI end to end against the Python client with compression off.
  const r = await benchPeersE2e({ rounds: quick ? 2 : 3 });
  results.peersE2e = r;
  if (r.measured) {
    const py = Object.keys(r.rows).find((k) => k.startsWith('Python'));
    for (const [name, x] of Object.entries(r.rows)) {
      if (name === py) continue;
      const target = name === 'CLI defaults' ? '<= 1.0' : '';
      row(
        `end to end client CPU/image, photo corpus, ${name} (ms)`,
        f2(x.client),
        py ? `${py} ${f2(r.rows[py].client)}` : 'no grpcio',
        f2(x.ratio),
        target,
        target ? x.ratio <= 1 : '',
      );
    }
  }
}

if (selected.includes('memory')) {
  const r = await benchMemory({ quick });
  results.memory = r;
  row(
    `peak RSS, ${r.large.images} vs ${r.small.images} images (MB)`,
    mb(r.large.peakRss),
    mb(r.small.peakRss),
    f2(r.ratio),
    '<= 1.2',
    r.ratio <= 1.2,
  );
}

if (selected.includes('wire')) {
  const r = await benchWire({ quick });
  results.wire = r;
  const raw = r.rows[0];
  for (const name of ['brotli q1', 'brotli q2', 'brotli q3', 'brotli q4', 'brotli q5', 'brotli q9', 'brotli q11', 'pass-through', 'png']) {
    const x = r.rows.find((y) => y.name === name);
    row(`wire bytes/image, ${name} (+CPU ms)`, `${Math.round(x.bytes)} (+${f2(x.cpu)})`, `raw ${raw.bytes}`, f2(x.ratio), '', '');
  }
  for (const [link, w] of Object.entries(r.winners)) {
    const best = r.rows.find((y) => y.name === w.best);
    const alt = r.rows.find((y) => y.name === w.withoutPassThrough);
    row(
      `best at ${link} (ms/image)`,
      `${w.best} ${f2(best.time[link])}; else ${w.withoutPassThrough} ${f2(alt.time[link])}`,
      `raw ${f2(raw.time[link])}`,
      f2(best.time[link] / raw.time[link]),
      '',
      '',
    );
  }
  const c = r.compact;
  row(
    'compact wire (png) bytes/image, prepared photos',
    `${Math.round(c.pngBytesRatio * 602112)}`,
    'raw 602112',
    f2(c.pngBytesRatio),
    '<= 0.45',
    c.pngBytesRatio <= 0.45,
  );
  row(
    'compact wire (png) added CPU/image vs decoding the photo (ms)',
    f2(c.pngCpu),
    `decode ${f2(c.decodeCpuMean)}`,
    f2(c.cpuOverDecode),
    '<= 1.0',
    c.cpuOverDecode <= 1,
  );
}

if (selected.includes('trickle')) {
  const r = await benchTrickle({ quick });
  results.trickle = r;
  row(
    `trickle, source to result p99 (ms)`,
    f1(r.endToEnd.p99),
    `preprocess only ${f1(r.prepareOnly.p99)}`,
    f2(r.endToEnd.p99 / r.prepareOnly.p99),
    `<= ${r.target} ms`,
    r.endToEnd.p99 <= r.target,
  );
}

if (selected.includes('redis')) {
  console.log('\nredis worker fleet (bench/redis.mjs):');
  const r = await benchRedis({ quick });
  results.redis = r;
  row('redis fleet, 1 worker process (images/s)', f1(r.worker1), `classify process ${f1(r.classify)}`, f2(r.ratio1), '', '');
  row('redis fleet, 2 worker processes (images/s)', f1(r.worker2), `classify process ${f1(r.classify)}`, f2(r.ratio2), '', '');
  row(
    'shared deployment, 2 consumers: answers at the other consumer',
    `${r.shared.foreign} of ${r.shared.answers}`,
    'own deployments: 0',
    f2(r.shared.foreignShare),
    '',
    '',
  );
}

if (selected.includes('clistart')) {
  // Starting the command line: a one-image classify from the one-file bundle the bin runs, against
  // the modules it is made from (docs/performance.md, "Starting the command line").
  console.log('\ncommand line start (bench/cli-start.mjs):');
  const r = await benchCliStart({ quick });
  results.cliStart = r;
  if (!r.measured) row('one-image classify, CPU (ms)', 'not measured (Linux only)', '', '', '', '');
  else {
    const x = r.rows;
    row(
      'one-image classify from dist/cli (one file), CPU (ms)',
      f1(x['from dist/cli (one file)'].cpuMs),
      `from dist/cjs (modules) ${f1(x['from dist/cjs (modules)'].cpuMs)}; node alone ${f1(x['node, nothing loaded'].cpuMs)}`,
      f2(r.ratio),
      '',
      '',
    );
  }
}

const mark = (met) => (met === '' ? '' : typeof met === 'string' ? met : met ? 'yes' : '**no**');
const table = [
  '| figure | value | baseline | ratio | target | met? |',
  '|---|--:|--:|--:|--:|:-:|',
  ...rows.map((r) => `| ${r.figure} | ${r.value} | ${r.baseline} | ${r.ratio} | ${r.target} | ${mark(r.met)} |`),
].join('\n');
console.log(`\n## athena-rx bench, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC${quick ? ' (--quick)' : ''}\n`);
console.log(table);
console.log(`\nload average at the end: ${loadavg().map(f2).join(' ')}`);
writeFileSync(
  values.out,
  JSON.stringify(
    {
      date: started.toISOString(),
      quick,
      node: process.version,
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      loadavg: loadavg(),
      dist: distDir(),
      rows,
      results,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${values.out}`);
