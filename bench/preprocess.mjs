// Preprocessing benchmark: prints ratios, never asserts times.
//
//   npm run build && node bench/preprocess.mjs [--reps N] [--rounds N] [--no-table] [--brotli] [--images DIR]
//
// or, from another script: `const r = await benchPreprocess({ reps, rounds, table, brotli, quick })`
// (returns the numbers below; see the JSDoc of benchPreprocess).
//
// Runs against the built package (dist/cjs; ATHENA_DIST points elsewhere), on the fixture corpus
// (test/fixtures/preprocess), with every image held in memory so that disk reads do not count.
//
// 1. Per image, median over --reps runs: our decode, resize, hash (MD5+SHA1 of the file) and
//    Brotli (default quality) in ms, next to sharp alone decoding the same bytes to raw pixels,
//    and the ratio of our whole preparation to that; then resize/decode, median over the photos
//    of one megapixel or more (target <= 0.25).
// 2. Throughput at concurrency 2 (the issue 3 target: >= 0.8), over the images sharp reads (BMP
//    and Netpbm, which we decode ourselves, are left out of both sides):
//      decode only: `sharp(bytes).raw().toBuffer()`, 2 at a time (mergeMap);
//      operator:    the real `preprocess({ concurrency: 2, encoding: 'uncompressed' })`, with its
//                   default MD5+SHA1 hashes and correlation ids.
//    The machine is shared, so the two alternate in --rounds rounds (A B, then B A, ...), each over
//    the same stream, and the ratio is taken within each round; the median ratio is reported.
// 3. With --brotli: Brotli ratio and time per quality 1..11 over the prepared pixels of the corpus.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { from, lastValueFrom, mergeMap, count } = require('rxjs');
const sharp = require('sharp');

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
const megapixels = (name) => {
  const c = name.match(/(\d+)x(\d+)/);
  return c ? (Number(c[1]) * Number(c[2])) / 1e6 : 0;
};

// sharp cannot read BMP or the Netpbm family (we decode those ourselves).
const sharpDecode = async (bytes) => {
  try {
    return await sharp(bytes).raw().toBuffer();
  } catch {
    return undefined;
  }
};

/**
 * Runs the preprocessing benchmark and returns its numbers (and prints them unless `log` is false).
 *
 * @param {object} [options]
 * @param {number} [options.reps] runs per image in the per-image table (default 5)
 * @param {number} [options.rounds] throughput rounds (default 7; 3 with `quick`)
 * @param {boolean} [options.table] print and return the per-image table (default true)
 * @param {boolean} [options.brotli] measure Brotli per quality (default false)
 * @param {boolean} [options.quick] fewer rounds and stream passes
 * @param {string} [options.images] image directory (default the fixture corpus)
 * @param {string} [options.dist] built package (default ATHENA_DIST or dist/cjs)
 * @param {false | ((line: string) => void)} [options.log] where lines go (default console.log)
 * @returns {Promise<{ operator: number, decodeOnly: number, ratio: number, ratios: number[],
 *   streamImages: number, resizeOverDecode?: number, rows?: object[], backend: string,
 *   brotli?: object[] }>} `operator` and `decodeOnly` in images/s (medians over the rounds),
 *   `ratio` the median of the per-round ratios operator / decodeOnly (target >= 0.8),
 *   `resizeOverDecode` the median resize/decode over the photos >= 1 MP (target <= 0.25).
 */
export async function benchPreprocess(options = {}) {
  const reps = options.reps ?? 5;
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 3 : 7);
  const log = options.log === false ? () => {} : (options.log ?? console.log);
  const dist = resolve(options.dist ?? process.env.ATHENA_DIST ?? join(here, '..', 'dist', 'cjs'));
  const { decodeRaw } = require(join(dist, 'preprocess/decode.js'));
  const { resizeToModel } = require(join(dist, 'preprocess/resize.js'));
  // (Builds from before the WebAssembly resizer have no resizeWasm.js: they resize in JavaScript.)
  let resizeBackend = () => ({ backend: 'js' });
  try {
    ({ resizeBackend } = require(join(dist, 'preprocess/resizeWasm.js')));
  } catch {
    // keep the JavaScript resizer
  }
  const { brotliEncode, DEFAULT_BROTLI_QUALITY } = require(join(dist, 'preprocess/encode.js'));
  const { wireHashes } = require(join(dist, 'preprocess/hashes.js'));
  const { prepareImage } = require(join(dist, 'preprocess/prepare.js'));
  const { preprocess } = require(join(dist, 'operators/preprocess.js'));

  const dir = options.images ?? join(here, '..', 'test', 'fixtures', 'preprocess', 'images');
  // Only what the reference decodes (a GIF has no golden).
  const images = readdirSync(dir)
    .filter((f) => !f.endsWith('.gif'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  for (const image of images) image.sharpReads = (await sharpDecode(image.bytes)) !== undefined;

  // Warm-up: load sharp's codecs, compile the resizer.
  for (const { bytes } of images.slice(0, 8)) {
    await prepareImage(bytes);
    await sharpDecode(bytes);
  }
  const backend = resizeBackend().backend;
  log(
    `preprocess bench: ${images.length} images, node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), resize on ${backend}\n`,
  );

  const result = { backend };
  if (options.table ?? true) Object.assign(result, await perImageTable());

  async function perImageTable() {
    log(`median of ${reps} runs per image:`);
    log(
      `${'image'.padEnd(26)} ${pad('decode', 7)} ${pad('resize', 7)} ${pad('hash', 6)} ${pad('brotli', 7)} ${pad('prepare', 8)} ${pad('sharp', 7)} ${pad('ratio', 6)}`,
    );
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
      log(
        `${name.padEnd(26)} ${pad(f1(row.decode), 7)} ${pad(f1(row.resize), 7)} ${pad(f2(row.hash), 6)} ${pad(f1(row.brotli), 7)} ${pad(f1(row.prepare), 8)} ${pad(f1(row.sharp), 7)} ${pad(f2(row.prepare / row.sharp), 6)}`,
      );
    }
    // Totals over the images sharp reads, so that every ratio compares the same work.
    const both = rows.filter((r) => !Number.isNaN(r.sharp));
    const total = (k) => sum(both.map((r) => r[k]));
    log(
      `${`total (${both.length} sharp reads)`.padEnd(26)} ${pad(f1(total('decode')), 7)} ${pad(f1(total('resize')), 7)} ${pad(f2(total('hash')), 6)} ${pad(f1(total('brotli')), 7)} ${pad(f1(total('prepare')), 8)} ${pad(f1(total('sharp')), 7)} ${pad(f2(total('prepare') / total('sharp')), 6)}`,
    );
    log(
      `\nsequential prepareImage (uncompressed): ${f1((1000 * both.length) / total('prepare'))} images/s; sharp decode alone: ${f1((1000 * both.length) / total('sharp'))} images/s`,
    );
    log(
      `our decode / sharp decode: ${f2(total('decode') / total('sharp'))} (sum over images); prepare / sharp decode: ${f2(total('prepare') / total('sharp'))}`,
    );
    const big = rows.filter((r) => megapixels(r.name) >= 1);
    const out = { rows };
    if (big.length) {
      out.resizeOverDecode = median(big.map((r) => r.resize / r.decode));
      log(
        `resize / decode, median over photos >= 1 MP (${big.map((r) => r.name).join(', ')}): ${f2(out.resizeOverDecode)} (target <= 0.25)`,
      );
    }
    return out;
  }

  // Throughput at concurrency 2, both sides over the same images in the same rounds.
  const readable = images.filter((x) => x.sharpReads).map((x) => x.bytes);
  const stream = [];
  for (let i = 0; i < (quick ? 1 : 2); i++) stream.push(...readable);
  const run = async (pipe) => {
    const [ms, n] = await time(() => lastValueFrom(from(stream).pipe(pipe, count())));
    if (n !== stream.length) throw new Error(`expected ${stream.length} results, got ${n}`);
    return (1000 * n) / ms;
  };
  const decodeOnly = () => run(mergeMap((b) => sharp(b).raw().toBuffer(), 2));
  const operator = () => run(preprocess({ concurrency: 2, encoding: 'uncompressed' }));
  await decodeOnly(); // warm-up of both, not counted
  await operator();
  log(
    `\nthroughput, concurrency 2, ${stream.length} images per run (${readable.length} that sharp reads${quick ? '' : ', twice'}), ${rounds} rounds:`,
  );
  log(`${'round'.padEnd(6)} ${pad('decode only', 12)} ${pad('preprocess()', 13)} ${pad('ratio', 6)}`);
  const d = [];
  const o = [];
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    let a;
    let b;
    if (r % 2 === 0) {
      a = await decodeOnly();
      b = await operator();
    } else {
      b = await operator();
      a = await decodeOnly();
    }
    d.push(a);
    o.push(b);
    ratios.push(b / a);
    log(`${String(r + 1).padEnd(6)} ${pad(f1(a), 12)} ${pad(f1(b), 13)} ${pad(f2(b / a), 6)}`);
  }
  Object.assign(result, { decodeOnly: median(d), operator: median(o), ratio: median(ratios), ratios, streamImages: stream.length });
  log(
    `median: decode only (sharp raw) ${f1(result.decodeOnly)} images/s, preprocess() ${f1(result.operator)} images/s; ratio (median of rounds) ${f2(result.ratio)} (target >= 0.8)`,
  );

  if (options.brotli) {
    // Brotli per quality over the prepared pixels of every image (what would be sent).
    const pixels = [];
    for (const { bytes } of images) pixels.push(resizeToModel(await decodeRaw(bytes)));
    const raw = sum(pixels.map((p) => p.length));
    log(`\nBrotli over ${pixels.length} prepared images (${(raw / 1e6).toFixed(1)} MB raw), default quality ${DEFAULT_BROTLI_QUALITY}:`);
    log('| quality | wire / raw | ms per image (mean) | ms per image (median) | MB/s |');
    log('|--:|--:|--:|--:|--:|');
    result.brotli = [];
    for (let q = 1; q <= 11; q++) {
      const ms = [];
      let out = 0;
      for (const p of pixels) {
        const [t, c] = await time(() => brotliEncode(p, q));
        ms.push(t);
        out += c.length;
      }
      result.brotli.push({ quality: q, ratio: out / raw, meanMs: sum(ms) / ms.length, medianMs: median(ms) });
      log(`| ${q} | ${f2(out / raw)} | ${f1(sum(ms) / ms.length)} | ${f1(median(ms))} | ${f1(raw / 1e6 / (sum(ms) / 1000))} |`);
    }
  }

  // The digest of the corpus, so two runs can be seen to use the same images.
  result.corpusMd5 = createHash('md5')
    .update(Buffer.concat(images.map((x) => x.bytes)))
    .digest('hex');
  log(`\ncorpus md5: ${result.corpusMd5}`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values: args } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-table': { type: 'boolean', default: false },
      brotli: { type: 'boolean', default: false },
      images: { type: 'string' },
    },
  });
  await benchPreprocess({
    reps: Number(args.reps),
    ...(args.rounds ? { rounds: Number(args.rounds) } : {}),
    quick: args.quick,
    table: !args['no-table'],
    brotli: args.brotli,
    ...(args.images ? { images: args.images } : {}),
  });
}
