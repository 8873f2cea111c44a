// Preprocessing benchmark: prints ratios, never asserts times.
//
//   npm run build && node bench/preprocess.mjs [--reps N] [--brotli] [--images DIR]
//
// Runs against the built package (dist/cjs; ATHENA_DIST points elsewhere), on the fixture corpus
// (test/fixtures/preprocess), with every image held in memory so that disk reads do not count.
//
// 1. Per image, median over --reps runs: our decode, resize, hash (MD5+SHA1 of the file) and
//    Brotli (default quality) in ms, next to sharp alone decoding the same bytes to raw pixels,
//    and the ratio of our whole preparation to that.
// 2. Throughput at concurrency 2: the preprocess() operator without compression vs decode only
//    (the decoder the operator uses, nothing after it). Target: >= 0.8.
// 3. With --brotli: Brotli ratio and time per quality 1..11 over the prepared pixels of the corpus.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.env.ATHENA_DIST ?? join(here, '..', 'dist', 'cjs'));
const require = createRequire(import.meta.url);
const { decodeRaw } = require(join(dist, 'preprocess/decode.js'));
const { resizeToModel } = require(join(dist, 'preprocess/resize.js'));
const { brotliEncode, DEFAULT_BROTLI_QUALITY } = require(join(dist, 'preprocess/encode.js'));
const { wireHashes } = require(join(dist, 'preprocess/hashes.js'));
const { prepareImage } = require(join(dist, 'preprocess/prepare.js'));
const { toModelPixels } = require(join(dist, 'preprocess/pixels.js'));
const { preprocess } = require(join(dist, 'operators/preprocess.js'));
const { from, lastValueFrom, mergeMap, count } = require('rxjs');
const sharp = require('sharp');

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    'no-table': { type: 'boolean', default: false },
    brotli: { type: 'boolean', default: false },
    images: { type: 'string', default: join(here, '..', 'test', 'fixtures', 'preprocess', 'images') },
  },
});
const reps = Number(args.reps);

// Only what the reference decodes (a GIF has no golden and sharp-vs-us is not comparable there).
const images = readdirSync(args.images)
  .filter((f) => !f.endsWith('.gif'))
  .sort()
  .map((name) => ({ name, bytes: readFileSync(join(args.images, name)) }));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const time = async (fn) => {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
};
const pad = (s, n) => String(s).padStart(n);
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);

// sharp cannot read BMP or the Netpbm family (we decode those ourselves): those images get no
// sharp column and are left out of every ratio against sharp.
const sharpDecode = async (bytes) => {
  try {
    return await sharp(bytes).raw().toBuffer();
  } catch {
    return undefined;
  }
};
for (const image of images) image.sharpReads = (await sharpDecode(image.bytes)) !== undefined;

// Warm-up: load sharp's codecs, JIT the resizer.
for (const { bytes } of images.slice(0, 8)) {
  await prepareImage(bytes);
  await sharpDecode(bytes);
}

console.log(`preprocess bench: ${images.length} images, median of ${reps} runs, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})\n`);
if (!args['no-table']) await perImageTable();

async function perImageTable() {
console.log(`${'image'.padEnd(26)} ${pad('decode', 7)} ${pad('resize', 7)} ${pad('hash', 6)} ${pad('brotli', 7)} ${pad('prepare', 8)} ${pad('sharp', 7)} ${pad('ratio', 6)}`);
const rows = [];
for (const { name, bytes, sharpReads } of images) {
  const m = { decode: [], resize: [], hash: [], brotli: [], prepare: [], sharp: [] };
  for (let i = 0; i < reps; i++) {
    const [decode, raw] = await time(() => decodeRaw(bytes));
    const [resize, pixels] = await time(() => resizeToModel(raw));
    const [hash] = await time(() => wireHashes(bytes, ['md5', 'sha1']));
    const [brotli] = await time(() => brotliEncode(pixels));
    const [prepare] = await time(() => prepareImage(bytes));
    const [sharpMs] = sharpReads ? await time(() => sharp(bytes).raw().toBuffer()) : [NaN];
    m.decode.push(decode);
    m.resize.push(resize);
    m.hash.push(hash);
    m.brotli.push(brotli);
    m.prepare.push(prepare);
    m.sharp.push(sharpMs);
  }
  const row = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  row.name = name;
  rows.push(row);
  console.log(
    `${name.padEnd(26)} ${pad(f1(row.decode), 7)} ${pad(f1(row.resize), 7)} ${pad(f2(row.hash), 6)} ${pad(f1(row.brotli), 7)} ${pad(f1(row.prepare), 8)} ${pad(f1(row.sharp), 7)} ${pad(f2(row.prepare / row.sharp), 6)}`,
  );
}
// Totals over the images sharp reads, so that every ratio compares the same work.
const both = rows.filter((r) => !Number.isNaN(r.sharp));
const total = (k) => sum(both.map((r) => r[k]));
console.log(
  `${`total (${both.length} sharp reads)`.padEnd(26)} ${pad(f1(total('decode')), 7)} ${pad(f1(total('resize')), 7)} ${pad(f2(total('hash')), 6)} ${pad(f1(total('brotli')), 7)} ${pad(f1(total('prepare')), 8)} ${pad(f1(total('sharp')), 7)} ${pad(f2(total('prepare') / total('sharp')), 6)}`,
);
console.log(`\nsequential prepareImage (uncompressed): ${f1((1000 * both.length) / total('prepare'))} images/s; sharp decode alone: ${f1((1000 * both.length) / total('sharp'))} images/s`);
console.log(`our decode / sharp decode: ${f2(total('decode') / total('sharp'))} (sum over images); prepare / sharp decode: ${f2(total('prepare') / total('sharp'))}`);
const big = rows.filter((r) => {
  const c = r.name.match(/(\d+)x(\d+)/);
  return c ? Number(c[1]) * Number(c[2]) >= 1e6 : false;
});
if (big.length) {
  console.log(`resize / decode, median over photos >= 1 MP (${big.map((r) => r.name).join(', ')}): ${f2(median(big.map((r) => r.resize / r.decode)))} (target <= 0.25)`);
}

}

// Throughput at concurrency 2, in the same run: the operator vs decode only.
const stream = [];
for (let i = 0; i < Math.max(2, reps); i++) stream.push(...images.map((x) => x.bytes));
const throughput = async (label, pipe) => {
  const [ms, n] = await time(() => lastValueFrom(from(stream).pipe(pipe, count())));
  const perS = (1000 * n) / ms;
  console.log(`${label.padEnd(52)} ${pad(f1(perS), 7)} images/s`);
  return perS;
};
console.log('\nthroughput, concurrency 2:');
const decodeOnly = await throughput('decode only (decodeRaw)', mergeMap((b) => decodeRaw(b), 2));
const sharpOnly = await throughput('sharp alone (raw decode; BMP/PNM: nothing)', mergeMap((b) => sharpDecode(b), 2));
const pixelsOnly = await throughput('decode + resize (toModelPixels)', mergeMap((b) => toModelPixels(b), 2));
const operator = await throughput('preprocess({ concurrency: 2 }) uncompressed, md5+sha1', preprocess({ concurrency: 2 }));
console.log(`operator / decode only: ${f2(operator / decodeOnly)} (target >= 0.8); operator / sharp alone: ${f2(operator / sharpOnly)}`);
console.log(`operator / decode + resize: ${f2(operator / pixelsOnly)} (what hashing, ids and the operator itself cost)`);

if (args.brotli) {
  // Brotli per quality over the prepared pixels of every image (what would be sent).
  const pixels = [];
  for (const { bytes } of images) pixels.push(resizeToModel(await decodeRaw(bytes)));
  const raw = sum(pixels.map((p) => p.length));
  console.log(`\nBrotli over ${pixels.length} prepared images (${(raw / 1e6).toFixed(1)} MB raw), default quality ${DEFAULT_BROTLI_QUALITY}:`);
  console.log('| quality | wire / raw | ms per image (mean) | ms per image (median) | MB/s |');
  console.log('|--:|--:|--:|--:|--:|');
  for (let q = 1; q <= 11; q++) {
    const ms = [];
    let out = 0;
    for (const p of pixels) {
      const [t, c] = await time(() => brotliEncode(p, q));
      ms.push(t);
      out += c.length;
    }
    console.log(`| ${q} | ${f2(out / raw)} | ${f1(sum(ms) / ms.length)} | ${f1(median(ms))} | ${f1(raw / 1e6 / (sum(ms) / 1000))} |`);
  }
}

// Keep the digest of the corpus in the output, so two runs can be seen to use the same images.
console.log(`\ncorpus md5: ${createHash('md5').update(Buffer.concat(images.map((x) => x.bytes))).digest('hex')}`);
