// Resize cost against decode cost: prints numbers and ratios, never asserts times.
//
//   npm run build && node bench/resize-vs-decode.mjs [--reps N] [--images DIR]
//
// For every image of the fixture corpus (test/fixtures/preprocess/images), held in memory, the
// median over --reps runs (after a warm-up) of
//   decode: decodeRaw (what toModelPixels uses: sharp/libvips or our BMP/PNM decoders, samples
//           left in the decoder's R,G,B or grey layout);
//   resize: resizeToModel on that result (OpenCV INTER_LINEAR to 448x448, B,G,R out; on the
//           WebAssembly SIMD kernels unless they cannot be loaded, see the first line printed);
// runs interleaved so that both see the same machine load. Target (issue 3): over the photos of
// one megapixel or more, the median of resize/decode is at most 0.25.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { reps: { type: 'string', default: '15' }, images: { type: 'string' } },
});
const reps = Number(values.reps);
const dir = values.images ?? join(root, 'test/fixtures/preprocess/images');
const dist = process.env.ATHENA_DIST ?? join(root, 'dist/cjs');
const require = createRequire(import.meta.url);
const { decodeRaw } = require(join(dist, 'preprocess/decode.js'));
const { resizeToModel } = require(join(dist, 'preprocess/resize.js'));
let backend = 'js'; // builds from before the WebAssembly resizer have no resizeWasm.js
try {
  backend = require(join(dist, 'preprocess/resizeWasm.js')).resizeBackend().backend;
} catch {
  // keep 'js'
}
console.log(`resize on ${backend}; median of ${reps} runs per image`);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const rows = [];
for (const name of readdirSync(dir).sort()) {
  const bytes = readFileSync(join(dir, name));
  let image;
  try {
    image = await decodeRaw(bytes);
  } catch {
    continue;
  }
  resizeToModel(image); // warm-up
  const decodeMs = [];
  const resizeMs = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    image = await decodeRaw(bytes);
    const t1 = performance.now();
    resizeToModel(image);
    const t2 = performance.now();
    decodeMs.push(t1 - t0);
    resizeMs.push(t2 - t1);
  }
  const d = median(decodeMs);
  const r = median(resizeMs);
  rows.push({ name, mp: (image.width * image.height) / 1e6, d, r });
}

console.log(`${'image'.padEnd(28)} ${'MP'.padStart(6)} ${'decode ms'.padStart(10)} ${'resize ms'.padStart(10)} ${'ratio'.padStart(6)}`);
for (const { name, mp, d, r } of rows) {
  console.log(
    `${name.padEnd(28)} ${mp.toFixed(2).padStart(6)} ${d.toFixed(2).padStart(10)} ${r.toFixed(2).padStart(10)} ${(r / d).toFixed(3).padStart(6)}`,
  );
}
const big = rows.filter((x) => x.mp >= 1);
const ratios = big.map((x) => x.r / x.d);
console.log(`\nphotos >= 1 MP: ${big.map((x) => x.name).join(', ')}`);
console.log(`median resize/decode over them: ${median(ratios).toFixed(3)} (target <= 0.25)`);
console.log(
  `median resize ms over all images: ${median(rows.map((x) => x.r)).toFixed(2)}; max: ${Math.max(...rows.map((x) => x.r)).toFixed(2)}`,
);
