// The photo corpus of the benchmarks: photo-sized images (0.3 to 12 MP, JPEG at quality 85-92 and
// about 20% PNG), made deterministically by this script and cached outside the git tree
// (node_modules/.cache/athena-rx-bench/, or BENCH_CORPUS_DIR), so that every figure of
// docs/performance.md can be given on images of the size users send, not only on the small
// fixtures.
//
//   node bench/corpus.mjs [--photos N]    makes (or finds) the corpus and prints a summary
//
// Content: a crop of one of the fixture photos (scikit-image's sample photos, test/fixtures/
// preprocess/images), scaled to the target size, with seeded detail laid over it (a fine grain
// and a coarser texture, both soft-light): upscaled photos alone are smooth and code to far fewer
// bits per pixel than a camera's, which would make decoding look cheaper than it is. The mix
// follows camera output: mostly 4:2:0 JPEG, some 4:4:4, about one JPEG in six carrying an EXIF
// orientation (phones write 6 for portrait shots), PNG with zlib level 6 (sharp's default), one
// in four of them with an alpha channel. The same `--photos N` makes the same bytes on every
// machine with the same sharp (libvips' encoders are deterministic); the file names carry the
// size and kind, and a manifest lists them.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { root } from './lib.mjs';

const require = createRequire(import.meta.url);
const sharp = require('sharp');

/** Bump when the recipe changes, so that a cached corpus of the old recipe is not reused. */
const RECIPE = 6;
export const DEFAULT_PHOTOS = 60;

const SOURCES = ['chelsea-2000x1500.jpg', 'coffee-5000x3500.jpg', 'astronaut-q95.jpg', 'rocket-original.jpg', 'retina-icc-srgb.jpg'];
const ASPECTS = [
  [4, 3],
  [3, 2],
  [16, 9],
  [3, 4],
  [2, 3],
  [1, 1],
];

/**
 * Seeded random numbers in [0, 1), the same on every machine: SHAKE256 of the seed as a stream of
 * 32-bit words (an extendable-output hash, so one call gives as many as asked for).
 */
function prng(seed, count = 1 << 16) {
  const words = createHash('shake256', { outputLength: 4 * count })
    .update(`athena-rx corpus ${seed}`)
    .digest();
  let i = 0;
  return () => {
    if (i >= count) throw new Error('prng: asked for more numbers than were made');
    return words.readUInt32LE(4 * i++) / 4294967296;
  };
}

/**
 * The plan of photo i: size (log-uniform megapixels in 0.3-12, stratified), kind and source.
 * Every fifth photo is a PNG; JPEG quality cycles through 85-92.
 */
export function plan(count) {
  const rnd = prng(20261205);
  // Stratified: photo i takes one of `count` equal slices of the log-uniform range, the slices
  // shuffled, so that even a small corpus spans 0.3-12 MP evenly (mean about 3.2 MP).
  const slice = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [slice[i], slice[j]] = [slice[j], slice[i]];
  }
  const out = [];
  for (let i = 0; i < count; i++) {
    const mp = 0.3 * Math.exp(((slice[i] + rnd()) / count) * Math.log(12 / 0.3));
    const [aw, ah] = ASPECTS[Math.floor(rnd() * ASPECTS.length)];
    const width = Math.round(Math.sqrt((mp * 1e6 * aw) / ah));
    const height = Math.round((width * ah) / aw);
    const png = i % 5 === 4;
    const quality = 85 + Math.floor(rnd() * 8);
    const chroma = rnd() < 0.25 ? '4:4:4' : '4:2:0';
    const orientation = !png && rnd() < 0.17 ? [6, 8, 3][Math.floor(rnd() * 3)] : undefined;
    const alpha = png && rnd() < 0.25;
    const source = SOURCES[Math.floor(rnd() * SOURCES.length)];
    const seed = Math.floor(rnd() * 2 ** 31);
    const kind = png ? `png${alpha ? '-rgba' : ''}` : `q${quality}-${chroma.replace(/:/g, '')}${orientation ? `-exif${orientation}` : ''}`;
    const name = `${String(i).padStart(3, '0')}-${width}x${height}-${kind}.${png ? 'png' : 'jpg'}`;
    out.push({ i, name, width, height, png, quality, chroma, orientation, alpha, source, seed });
  }
  return out;
}

/** A tile of seeded detail (3 channels, centred on 128): grain plus a coarser texture. */
function detailTile(seed, side, amplitude) {
  const rnd = prng(seed, 5 * side * side);
  const coarseSide = side / 8;
  const coarse = new Float32Array(coarseSide * coarseSide);
  for (let i = 0; i < coarse.length; i++) coarse[i] = rnd() - 0.5;
  const out = Buffer.allocUnsafe(side * side * 3);
  for (let y = 0, o = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      // The coarse texture bilinearly interpolated (wrapping, so the tile repeats seamlessly).
      const fx = x / 8;
      const fy = y / 8;
      const x0 = Math.floor(fx) % coarseSide;
      const y0 = Math.floor(fy) % coarseSide;
      const x1 = (x0 + 1) % coarseSide;
      const y1 = (y0 + 1) % coarseSide;
      const tx = fx - Math.floor(fx);
      const ty = fy - Math.floor(fy);
      const c =
        (coarse[y0 * coarseSide + x0] * (1 - tx) + coarse[y0 * coarseSide + x1] * tx) * (1 - ty) +
        (coarse[y1 * coarseSide + x0] * (1 - tx) + coarse[y1 * coarseSide + x1] * tx) * ty;
      const luma = (rnd() - 0.5) * amplitude + c * amplitude * 1.5;
      for (let k = 0; k < 3; k++) {
        const v = 128 + luma + (rnd() - 0.5) * amplitude * 0.35;
        out[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

async function make(p, file) {
  const src = join(root, 'test/fixtures/preprocess/images', p.source);
  const meta = await sharp(src).metadata();
  const rnd = prng(p.seed);
  // A crop of 60-100% of the source with the target's aspect ratio.
  const scale = 0.6 + 0.4 * rnd();
  let cw = meta.width * scale;
  let ch = (cw * p.height) / p.width;
  if (ch > meta.height * scale) {
    ch = meta.height * scale;
    cw = (ch * p.width) / p.height;
  }
  cw = Math.max(16, Math.floor(cw));
  ch = Math.max(16, Math.floor(ch));
  const left = Math.floor(rnd() * (meta.width - cw));
  const top = Math.floor(rnd() * (meta.height - ch));
  const side = 256; // smaller than the smallest photo: sharp composites a tile no larger than the image
  // Stronger detail in the JPEGs (about 2-3 bits per pixel at these qualities, as from a camera);
  // gentler in the PNGs, which keep every bit of it (about 12-16 bits per pixel, as a photo saved as PNG).
  const tile = detailTile(p.seed, side, p.png ? 14 : 52);
  let img = sharp(src)
    .extract({ left, top, width: cw, height: ch })
    .resize(p.width, p.height, { kernel: 'lanczos3', fit: 'fill' })
    .composite([{ input: tile, raw: { width: side, height: side, channels: 3 }, tile: true, blend: 'soft-light' }]);
  if (p.png) {
    if (p.alpha) img = sharp(await img.png({ compressionLevel: 0 }).toBuffer()).ensureAlpha(0.9);
    await img.png({ compressionLevel: 6 }).toFile(file);
  } else {
    img = img.jpeg({ quality: p.quality, chromaSubsampling: p.chroma, mozjpeg: false });
    // The orientation tag only: the pixels are stored as made, as a phone stores a portrait shot.
    if (p.orientation) img = img.withMetadata({ orientation: p.orientation });
    await img.toFile(file);
  }
}

/** Where the corpus lives: BENCH_CORPUS_DIR, else node_modules/.cache (never in git). */
export function corpusDir(count) {
  const base = process.env.BENCH_CORPUS_DIR ?? join(root, 'node_modules', '.cache', 'athena-rx-bench');
  return join(base, `photos-r${RECIPE}-n${count}`);
}

/**
 * The photo corpus of `count` photos, made on first use (about a second per photo) and then read
 * from the cache: `[{ name, path, width, height, png, size }]` in a fixed order.
 */
export async function photoCorpus({ count = DEFAULT_PHOTOS, log = console.error } = {}) {
  const dir = corpusDir(count);
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    log(`making the photo corpus (${count} photos) in ${dir} ...`);
    // One libvips thread per image: the machine may be shared, and it is a one-off.
    const previous = sharp.concurrency();
    sharp.concurrency(1);
    try {
      for (const p of plan(count)) await make(p, join(tmp, p.name));
    } finally {
      sharp.concurrency(previous);
    }
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(plan(count), null, 1) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  const planned = JSON.parse(readFileSync(manifest, 'utf8'));
  const present = new Set(readdirSync(dir));
  return planned.map((p) => {
    if (!present.has(p.name)) throw new Error(`photo corpus ${dir} is missing ${p.name}: delete the folder to remake it`);
    const path = join(dir, p.name);
    return { name: p.name, path, width: p.width, height: p.height, png: p.png, size: statSync(path).size };
  });
}

/** One line saying what a corpus is, for the tables. */
export function describeCorpus(photos) {
  const mp = photos.map((p) => (p.width * p.height) / 1e6);
  const pngs = photos.filter((p) => p.png).length;
  const bytes = photos.reduce((a, p) => a + p.size, 0);
  return `${photos.length} photos (${photos.length - pngs} JPEG, ${pngs} PNG), ${Math.min(...mp).toFixed(1)}-${Math.max(...mp).toFixed(1)} MP, mean ${(mp.reduce((a, b) => a + b, 0) / mp.length).toFixed(2)} MP, ${(bytes / photos.length / 1e6).toFixed(2)} MB per file`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { photos: { type: 'string' } } });
  const photos = await photoCorpus({ count: values.photos ? Number(values.photos) : DEFAULT_PHOTOS });
  console.log(describeCorpus(photos));
  for (const p of photos) {
    console.log(`${p.name}\t${(p.size / 1e6).toFixed(2)} MB\t${((p.size * 8) / (p.width * p.height)).toFixed(2)} bits/pixel`);
  }
}
