// Wire: bytes per image on the wire for raw pixels, Brotli qualities 1..11 and pass-through, with
// the CPU each costs, and which default wins on a 100 Mbit/s and a 1 Gbit/s link. Prints ratios
// against raw pixels, never asserts.
//
//   npm run build && node bench/wire.mjs [--quick] [--reps N]
//
// Inputs: the distinct photos of the fixture corpus (test/fixtures/preprocess/images: astronaut,
// camera, chelsea, coffee, retina, rocket) made 448x448 PNGs (sharp resize + PNG at its
// defaults), held in memory: the case where pass-through applies. (The sample photos of samples/
// are smooth synthetic pictures that Brotli shrinks to about 4 %: not a fair wire test.) Per option and image:
//   bytes     ClassificationInput.data as prepared (wire framing adds the same few bytes to all);
//   CPU ms    process CPU (event loop and thread pool) of preparing the image that way, minus that
//             of preparing it raw: what the option costs the client on top of decoding;
//   server ms what the receiving side spends turning it back into pixels (Brotli decode, PNG
//             decode), for information: the service pays it, not the client.
// Per image on a link of B bit/s with 2 cores: time = CPU / 2 + 8 * bytes / B (the formula of
// issue 6: the link is one, the CPU work spreads over the cores). The option with the least time wins.
import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { cpuMs, distDir, f2, load, median, root } from './lib.mjs';

const unbrotli = promisify(brotliDecompress);
const CORES = 2;
const RAW = 448 * 448 * 3;
const PHOTOS = [
  'astronaut-q95.jpg',
  'camera-gray8.png',
  'chelsea-2000x1500.jpg',
  'coffee-5000x3500.jpg',
  'retina-lossless.webp',
  'rocket-original.jpg',
];
const LINKS = { '10 Mbit/s': 10e6, '100 Mbit/s': 100e6, '1 Gbit/s': 1e9 };

export async function benchWire({ quick = false, reps, log = console.log } = {}) {
  const { athena } = load();
  const sharp = (await import('sharp')).default;
  const repeat = reps ?? (quick ? 1 : 3);
  const pngs = [];
  const originals = [];
  for (const name of PHOTOS) {
    const bytes = readFileSync(join(root, 'test/fixtures/preprocess/images', name));
    originals.push(bytes);
    pngs.push(await sharp(bytes).resize(448, 448, { fit: 'fill' }).png().toBuffer());
  }

  const options = [
    { name: 'raw', prepare: { encoding: 'uncompressed' } },
    ...Array.from({ length: 11 }, (_, k) => ({ name: `brotli q${k + 1}`, prepare: { encoding: 'brotli', brotliQuality: k + 1 } })),
    { name: 'pass-through', prepare: { passThrough: true } },
    { name: 'png', prepare: { encoding: 'png' } },
  ];
  // CPU of prepareImage per option and image, one image at a time so that nothing overlaps.
  const measure = async (opt, png) => {
    const c = cpuMs();
    const prepared = await athena.prepareImage(png, { ...opt.prepare, hashes: [] });
    return { cpu: cpuMs() - c, bytes: prepared.data.length, prepared };
  };
  for (const png of pngs) for (const opt of options.slice(0, 2)) await measure(opt, png); // warm-up

  const rows = [];
  const rawCpu = [];
  for (const opt of options) {
    const cpu = [];
    const server = [];
    let bytes = 0;
    for (let r = 0; r < repeat; r++) {
      for (const png of pngs) {
        const raw = await measure(options[0], png);
        const m = await measure(opt, png);
        rawCpu.push(raw.cpu);
        cpu.push(Math.max(0, m.cpu - raw.cpu));
        if (r === 0) bytes += m.bytes;
        const s = cpuMs();
        if (m.prepared.encoding === 'REQUEST_ENCODING_BROTLI') await unbrotli(m.prepared.data);
        else if (m.prepared.passedThrough || m.prepared.format === 'IMAGE_FORMAT_PNG') await sharp(m.prepared.data).raw().toBuffer();
        server.push(cpuMs() - s);
      }
    }
    rows.push({ name: opt.name, bytes: bytes / pngs.length, cpu: median(cpu), serverCpu: median(server) });
  }
  // The compact wire as the client uses it: the prepared pixels of each original photo (our resize
  // of it, what is actually sent), encoded as PNG and as Brotli q1, against decoding the photo
  // itself (the budget). Each CPU figure is measured on its own (not as a difference of two
  // preparations, which doubles the noise), median of the repetitions, the three alternating.
  const require = createRequire(import.meta.url);
  const { decodeRaw } = require(join(distDir(), 'preprocess', 'decode.js'));
  const { encodePngBgr } = require(join(distDir(), 'preprocess', 'pngEncode.js'));
  const { brotliEncode } = require(join(distDir(), 'preprocess', 'encode.js'));
  const timed = async (fn) => {
    const c = cpuMs();
    const out = await fn();
    return [cpuMs() - c, out];
  };
  const compactRows = [];
  for (const bytes of originals) {
    const pixels = (await athena.prepareImage(bytes, { hashes: [] })).data;
    const decode = [];
    const png = [];
    const brotli = [];
    let pngBytes = 0;
    let brotliBytes = 0;
    for (let r = 0; r < Math.max(3, repeat * 2); r++) {
      decode.push((await timed(() => decodeRaw(bytes)))[0]);
      const [pc, p] = await timed(() => encodePngBgr(pixels, 448, 448));
      png.push(pc);
      pngBytes = p.length;
      const [bc, b] = await timed(() => brotliEncode(pixels, 1));
      brotli.push(bc);
      brotliBytes = b.length;
    }
    compactRows.push({ decode: median(decode), png: median(png), pngBytes, brotli1: median(brotli), brotli1Bytes: brotliBytes });
  }
  const mean = (k) => compactRows.reduce((a, r) => a + r[k], 0) / compactRows.length;
  const compact = {
    photos: compactRows.length,
    pngBytesRatio: mean('pngBytes') / RAW,
    pngCpu: mean('png'),
    brotli1BytesRatio: mean('brotli1Bytes') / RAW,
    brotli1Cpu: mean('brotli1'),
    decodeCpuMean: mean('decode'),
    cpuOverDecode: mean('png') / mean('decode'),
    perPhoto: compactRows,
  };
  const raw = rows[0];
  for (const row of rows) {
    row.ratio = row.bytes / raw.bytes;
    row.time = Object.fromEntries(Object.entries(LINKS).map(([k, bps]) => [k, row.cpu / CORES + (8 * row.bytes * 1000) / bps]));
  }
  const winners = Object.fromEntries(
    Object.keys(LINKS).map((k) => {
      const best = rows.reduce((a, b) => (b.time[k] < a.time[k] ? b : a));
      const bestEncoded = rows
        .filter((r) => r.name !== 'pass-through' && r.name !== 'png')
        .reduce((a, b) => (b.time[k] < a.time[k] ? b : a));
      const bestLossless = rows.filter((r) => r.name !== 'pass-through').reduce((a, b) => (b.time[k] < a.time[k] ? b : a));
      return [
        k,
        {
          best: best.name,
          ms: best.time[k],
          withoutPassThrough: bestEncoded.name,
          msWithoutPassThrough: bestEncoded.time[k],
          withPng: bestLossless.name,
          msWithPng: bestLossless.time[k],
        },
      ];
    }),
  );
  log(`\nwire: ${pngs.length} PNG 448x448 inputs, median of ${repeat}; raw prepare (decode + layout) ${f2(median(rawCpu))} CPU ms/image`);
  log(
    `| option | bytes/image | / raw | extra client CPU ms/image | server decode CPU ms/image | ${Object.keys(LINKS)
      .map((k) => `ms/image @${k}`)
      .join(' | ')} |`,
  );
  log(
    `|---|--:|--:|--:|--:|${Object.keys(LINKS)
      .map(() => '--:')
      .join('|')}|`,
  );
  for (const r of rows) {
    log(
      `| ${r.name} | ${Math.round(r.bytes)} | ${f2(r.ratio)} | ${f2(r.cpu)} | ${f2(r.serverCpu)} | ${Object.keys(LINKS)
        .map((k) => f2(r.time[k]))
        .join(' | ')} |`,
    );
  }
  for (const [k, w] of Object.entries(winners)) {
    log(
      `${k}: ${w.best} wins (${f2(w.ms)} ms/image); without pass-through (JPEG or non-448 input): ${w.withPng} (${f2(w.msWithPng)} ms/image), without png either: ${w.withoutPassThrough} (${f2(w.msWithoutPassThrough)} ms/image)`,
    );
  }
  log(
    `\ncompact wire on the prepared pixels of the ${compact.photos} original photos (mean per image): png ${f2(compact.pngBytesRatio)} of raw for +${f2(compact.pngCpu)} CPU ms; brotli q1 ${f2(compact.brotli1BytesRatio)} for +${f2(compact.brotli1Cpu)} ms; decoding the photo ${f2(compact.decodeCpuMean)} ms: png CPU / decode ${f2(compact.cpuOverDecode)} (targets: <= 0.45 of raw, <= 1.0 of decode)`,
  );
  log(
    `per photo (decode ms, png +ms, png bytes): ${compactRows.map((r, i) => `${PHOTOS[i]} ${f2(r.decode)} +${f2(r.png)} ${r.pngBytes}`).join('; ')}`,
  );
  return { images: pngs.length, reps: repeat, rows, winners, compact };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, reps: { type: 'string' } } });
  await benchWire({ quick: values.quick, reps: values.reps ? Number(values.reps) : undefined });
}
