// Against the peers: the official Python client's recipe (OpenCV `imdecode` + `INTER_LINEAR`
// resize, MD5 + SHA-256 of the file; bench/peers.py) on the same files, in the same run, beside
// `prepareImage`. Optional: skipped, saying "not measured", where Python, OpenCV or numpy is
// missing. Prints ratios, never asserts.
//
//   npm run build && node bench/peers.mjs [--corpus photos|fixtures] [--photos N] [--quick]
//                                         [--rounds N] [--reps N] [--modes a,b] [--table]
//                                         [--alt-dist DIR] [--alt-malloc TUNABLES|none]
//                                         [--host-heap MB]
//
// Corpus: `photos` (default), the photo corpus of bench/corpus.mjs (0.3-12 MP, JPEG q85-92 and
// 20% PNG, made once and cached outside git); `fixtures`, the fixture corpus
// (test/fixtures/preprocess/images) without the GIF, which OpenCV 4.6 cannot decode. Both sides
// run one image at a time and count the CPU of their whole process (all threads: libvips', libuv's
// and OpenCV's pools included), per file the mean over --reps. Each round runs every pair (ours,
// theirs) in an order that alternates from round to round; a ratio is taken per round over the
// corpus total, and the median of the rounds is reported. The prepared pixels are compared too
// (MD5 of OpenCV's B,G,R against ours): a speed-up that changed a pixel would show.
//
// Modes (ours / theirs):
//   client           prepareImage(path), MD5+SHA1, uncompressed (our default) /
//                    the Python client's own preparation: read, MD5+SHA-256, imdecode, resize
//   prepareNoHashes  prepareImage(path, { hashes: [] }) / read, imdecode, resize
//   decode           decodeRaw(bytes) / cv2.imdecode(bytes)
//   resize           resizeToModel(decoded) / cv2.resize(decoded), just after decoding (the decode
//                    outside the count; on our side the collection that the decoder's memory makes
//                    due often lands in the first allocation after it, which is the resize's result)
//   resizeInMemory   the same after one resize of that image outside the count, on both sides: an
//                    image that has been in memory a while (the decoder's after-effects settled)
//   brotli1          prepareImage(bytes, Brotli q1) / imdecode, resize, Brotli q1 (not by default)
//   clientWorker     'client' with decodeThread: 'worker' / the Python client's preparation
//
// --host-heap MB gives each athena-rx process about MB of small live objects first, as an
// application's own data would (the Python side gets none: its collector does not see the images).
//
// --alt-dist / --alt-malloc add a fourth contender in the same interleaved rounds, for A/B
// measurements: another build (a copy of dist/cjs) and/or other GLIBC_TUNABLES ('none': a plain node).
//
// BENCH_PYTHON names the interpreter (default: the first of /usr/bin/python3, python3 that can
// `import cv2, numpy`; Debian's python3-opencv is in /usr/bin).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { distDir, f2, here, load, median, root, sum } from './lib.mjs';
import { describeCorpus, photoCorpus } from './corpus.mjs';

/** The interpreter that can run bench/peers.py, or undefined. */
export function findPython() {
  const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import cv2, numpy; print(cv2.__version__)'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, cv2: probe.stdout.trim() };
  }
  return undefined;
}

/** The fixture corpus: every fixture OpenCV decodes (all but the GIF). */
function fixtureCorpus() {
  const dir = join(root, 'test/fixtures/preprocess/images');
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.gif'))
    .sort()
    .map((name) => ({ name, path: join(dir, name), bytes: readFileSync(join(dir, name)) }));
}

/** A label per file for the per-format totals (from the fixture's name and extension). */
function formatOf(name) {
  if (/^\d{3}-\d+x\d+-/.test(name)) {
    // A photo of bench/corpus.mjs: by size class and kind.
    const [w, h] = name.split('-')[1].split('x').map(Number);
    const mp = (w * h) / 1e6;
    const size = mp < 1 ? '0.3-1 MP' : mp < 4 ? '1-4 MP' : '4-12 MP';
    return `${name.endsWith('.png') ? 'PNG' : 'JPEG'} ${size}`;
  }
  const ext = extname(name).slice(1).toLowerCase();
  if (ext === 'jpg') return name.includes('progressive') ? 'JPEG progressive' : name.includes('cmyk') ? 'JPEG CMYK' : 'JPEG baseline';
  if (ext === 'png') return name.includes('rgb16') ? 'PNG 16-bit' : name.includes('palette') ? 'PNG palette' : 'PNG 8-bit';
  if (ext === 'webp') return name.includes('lossless') ? 'WebP lossless' : 'WebP lossy';
  if (ext === 'tif') return 'TIFF';
  if (ext === 'bmp') return 'BMP';
  return 'Netpbm';
}

export const DEFAULT_MODES = ['client', 'clientWorker', 'prepareNoHashes', 'decode', 'resize', 'resizeInMemory'];

/**
 * The malloc settings the CLI starts node with (bin/athena-rx.js): one arena, transparent huge
 * pages for malloc's memory. On this kind of VM a fresh 4 KiB page costs about 12 us to fault in,
 * and glibc's default per-thread arenas hand every decoded image fresh pages (docs/performance.md).
 */
export const CLI_MALLOC =
  'glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';
/** The V8 flags the CLI starts node with (bin/athena-rx.js), besides its malloc settings. */
export const CLI_NODE_FLAGS = ['--initial-old-space-size=64'];

/** A child speaking bench/peers.py's protocol: `ask(command)` answers one JSON line. */
async function startChild(command, args, files, env = process.env) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ask = (cmd) =>
    Promise.race([
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(JSON.stringify(cmd) + '\n');
      }),
      exited.then((code) => {
        throw new Error(`${args[0]} exited (${code})`);
      }),
    ]);
  const hello = await ask({ files });
  return { ...hello, ask, stop: () => (child.stdin.end(), exited) };
}

export async function benchPeers({
  quick = false,
  rounds,
  reps,
  table = false,
  corpus = 'photos',
  photos,
  modes = DEFAULT_MODES,
  alt,
  hostHeap,
  log = console.log,
} = {}) {
  const found = findPython();
  if (!found) {
    log('\npeers: not measured (no Python with cv2 and numpy; install python3-opencv)');
    return { measured: false };
  }
  const { athena } = load();
  const files =
    corpus === 'fixtures'
      ? fixtureCorpus()
      : (await photoCorpus({ count: photos ?? (quick ? 20 : undefined) })).map((p) => ({
          ...p,
          bytes: readFileSync(p.path),
        }));
  const corpusLine = corpus === 'fixtures' ? `${files.length} images (fixture corpus)` : describeCorpus(files);
  const loadAtStart = loadavg();
  const paths = files.map((f) => f.path);
  // Three contenders, each a process of its own counting its own CPU: athena-rx with glibc's
  // default malloc (as a library user's node runs), athena-rx as the CLI runs it (its malloc
  // settings, its V8 flag, libvips' cache off), and the Python client's recipe.
  const plainEnv = { ...process.env, PEERS_HOST_HEAP_MB: String(hostHeap ?? 0) };
  delete plainEnv.GLIBC_TUNABLES;
  const nodeChild = (env, flags = []) => startChild(process.execPath, [...flags, join(here, 'peers-node.mjs')], paths, env);
  const sides = {
    ours: await nodeChild(plainEnv),
    cliMalloc: await nodeChild({ ...plainEnv, GLIBC_TUNABLES: CLI_MALLOC, PEERS_AS_CLI: '1' }, CLI_NODE_FLAGS),
    // An optional fourth contender for A/B measurements in the same interleaved run: another
    // build (`dist`, as ATHENA_DIST) and/or other malloc settings (`malloc`; 'none' starts it as
    // a plain node: no malloc settings, no V8 flag, libvips' cache on).
    ...(alt
      ? {
          alt: await nodeChild(
            {
              ...plainEnv,
              ...(alt.dist ? { ATHENA_DIST: alt.dist } : {}),
              ...(alt.malloc === 'none' ? {} : { GLIBC_TUNABLES: alt.malloc ?? CLI_MALLOC, PEERS_AS_CLI: '1' }),
            },
            alt.malloc === 'none' ? [] : CLI_NODE_FLAGS,
          ),
        }
      : {}),
    theirs: await startChild(found.python, [join(here, 'peers.py')], paths),
  };
  const names = Object.keys(sides);
  const r = rounds ?? (quick ? 2 : corpus === 'photos' ? 3 : 5);
  const k = reps ?? (quick || corpus === 'photos' ? 1 : 3);
  // 'client' is the headline: our default preparation against the Python client's own (which
  // hashes with MD5 and SHA-256); 'prepareNoHashes' the plain recipe on both sides.
  const ask = (side, mode) => sides[side].ask({ run: side === 'theirs' ? (THEIRS[mode] ?? mode) : mode, reps: k });
  const THEIRS = { prepareNoHashes: 'prepare', clientWorker: 'client' };
  const faults0 = {};
  for (const side of names) faults0[side] = (await sides[side].ask({ faults: true })).faults;
  const runs = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(names.map((x) => [x, []]))]));
  for (let round = 0; round < r; round++) {
    for (const m of modes) {
      // The order rotates from round to round, so that no side always runs first or last.
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const side of order) runs[m][side].push(await ask(side, m));
    }
    log(`peers: round ${round + 1} of ${r} done (load average ${loadavg().map(f2).join(' ')})`);
  }
  const faultsPerImage = {};
  for (const side of names) {
    faultsPerImage[side] = ((await sides[side].ask({ faults: true })).faults - faults0[side]) / (files.length * k * r * modes.length);
  }

  // Pixel parity, in the same run: OpenCV's prepared pixels against ours.
  const theirMd5 = (await sides.theirs.ask({ md5: true })).md5;
  const ourMd5 = (await sides.ours.ask({ md5: true })).md5;
  let identical = 0;
  let compared = 0;
  for (let i = 0; i < files.length; i++) {
    if (!theirMd5[i]) continue;
    compared++;
    if (ourMd5[i] === theirMd5[i]) identical++;
  }
  // The compact wire (encoding 'png') through the reference decoder: OpenCV must read back
  // exactly the pixels we prepared.
  const dir = mkdtempSync(join(tmpdir(), 'athena-peers-png-'));
  const pngPaths = [];
  const rawMd5 = [];
  for (let i = 0; i < files.length; i++) {
    const png = await athena.prepareImage(files[i].bytes, { pixelHashes: ['md5'], hashes: [], encoding: 'png' });
    if (png.format !== 'IMAGE_FORMAT_PNG') continue;
    pngPaths.push(join(dir, `${i}.png`));
    writeFileSync(pngPaths.at(-1), png.data);
    rawMd5.push(png.pixelHashes.find((h) => h.algorithm === 'md5')?.value);
  }
  const pngMd5 = (await sides.theirs.ask({ decode_md5: pngPaths })).md5;
  const pngIdentical = pngMd5.filter((m, i) => m === rawMd5[i]).length;
  rmSync(dir, { recursive: true, force: true });
  for (const side of names) await sides[side].stop();

  const n = files.length;
  const result = {
    measured: true,
    corpus: corpusLine,
    loadavg: { start: loadAtStart, end: loadavg() },
    python: found.python,
    cv2: sides.theirs.cv2,
    cliMalloc: CLI_MALLOC,
    images: n,
    rounds: r,
    reps: k,
    identical,
    compared,
    pngIdentical,
    pngCompared: pngPaths.length,
    faultsPerImage,
    modes: {},
  };
  for (const m of modes) {
    const x = runs[m];
    const perFile = (side) => files.map((_, i) => median(x[side].map((run) => run.cpu_ms[i])));
    const mean = Object.fromEntries(names.map((side) => [side, sum(perFile(side)) / n]));
    const ratios = (side) => x[side].map((run, i) => sum(run.cpu_ms) / sum(x.theirs[i].cpu_ms));
    const o = perFile('ours');
    const t = perFile('theirs');
    result.modes[m] = {
      ours: mean.ours,
      cliMalloc: mean.cliMalloc,
      theirs: mean.theirs,
      ratio: median(ratios('ours')),
      ratios: ratios('ours'),
      cliMallocRatio: median(ratios('cliMalloc')),
      cliMallocRatios: ratios('cliMalloc'),
      ...(alt ? { alt: mean.alt, altRatio: median(ratios('alt')), altRatios: ratios('alt') } : {}),
      perFile: files.map((f, i) => ({ name: f.name, format: formatOf(f.name), ours: o[i], theirs: t[i] })),
    };
  }
  log(
    `\npeers: ${corpusLine}; ${found.python} with OpenCV ${sides.theirs.cv2}; one image at a time, CPU ms per image (mean over the corpus), median of ${r} rounds of ${k}; load average ${loadAtStart.map(f2).join(' ')} at the start, ${result.loadavg.end.map(f2).join(' ')} at the end`,
  );
  log(
    `pixels: ${identical}/${compared} prepared images identical to OpenCV's (MD5 of the B,G,R bytes); compact wire: cv2.imdecode of our PNG gives back exactly our pixels for ${pngIdentical}/${pngPaths.length}`,
  );
  log(
    `minor page faults per image run: athena-rx ${Math.round(faultsPerImage.ours)}, as the CLI runs ${Math.round(faultsPerImage.cliMalloc)}, Python ${Math.round(faultsPerImage.theirs)}`,
  );
  log(
    '| recipe | athena-rx CPU ms/image | the same, as the CLI runs | Python CPU ms/image | athena-rx / Python (median of rounds) | as the CLI / Python | per round (athena-rx; as the CLI) |',
  );
  log('|---|--:|--:|--:|--:|--:|---|');
  const label = {
    client: 'prepare from the file: ours MD5+SHA1 (default) / the Python client MD5+SHA-256',
    prepareNoHashes: 'prepare from the file, no hashes (read, decode, resize)',
    brotli1: 'prepare + Brotli q1 (ours with MD5+SHA1)',
    decode: 'decode only (our decodeRaw / imdecode)',
    resize: 'resize only, just after decoding (resizeToModel / cv2.resize)',
    resizeInMemory: 'resize only, an image in memory (after one untimed resize)',
    clientWorker: "prepare from the file, decodeThread: 'worker': ours MD5+SHA1 / the Python client MD5+SHA-256",
  };
  for (const [m, x] of Object.entries(result.modes)) {
    log(
      `| ${label[m]} | ${f2(x.ours)} | ${f2(x.cliMalloc)} | ${f2(x.theirs)} | ${f2(x.ratio)} | ${f2(x.cliMallocRatio)} | ${x.ratios.map(f2).join(' ')}; ${x.cliMallocRatios.map(f2).join(' ')} |`,
    );
  }
  if (alt) {
    result.alt = alt;
    log(
      `\nalt contender (dist ${alt.dist ?? distDir()}, malloc ${alt.malloc ?? CLI_MALLOC}; minor page faults per image run ${Math.round(faultsPerImage.alt)}):`,
    );
    log('| recipe | alt CPU ms/image | alt / Python (median of rounds) | per round |');
    log('|---|--:|--:|---|');
    for (const [m, x] of Object.entries(result.modes))
      log(`| ${label[m]} | ${f2(x.alt)} | ${f2(x.altRatio)} | ${x.altRatios.map(f2).join(' ')} |`);
  }
  // Where the difference is, per format: totals over the files of each kind.
  const groups = new Map();
  for (const m of ['prepare', 'decode']) {
    const source = result.modes[m === 'prepare' ? 'prepareNoHashes' : m];
    if (!source) continue;
    for (const f of source.perFile) {
      const g = groups.get(f.format) ?? { files: new Set(), prepare: [0, 0], decode: [0, 0] };
      g.files.add(f.name);
      g[m][0] += f.ours;
      g[m][1] += f.theirs;
      groups.set(f.format, g);
    }
  }
  result.formats = {};
  log('\n| format | files | prepare (no hashes): ours / Python CPU ms (sum) | ratio | decode: ours / imdecode CPU ms (sum) | ratio |');
  log('|---|--:|--:|--:|--:|--:|');
  for (const [format, g] of [...groups].sort()) {
    result.formats[format] = { files: g.files.size, prepare: g.prepare, decode: g.decode };
    log(
      `| ${format} | ${g.files.size} | ${f2(g.prepare[0])} / ${f2(g.prepare[1])} | ${f2(g.prepare[0] / g.prepare[1])} | ${f2(g.decode[0])} / ${f2(g.decode[1])} | ${f2(g.decode[0] / g.decode[1])} |`,
    );
  }
  if (table && result.modes.prepareNoHashes) {
    log('\n| image | ours prepare ms | Python prepare ms | ratio |');
    log('|---|--:|--:|--:|');
    for (const f of result.modes.prepareNoHashes.perFile) log(`| ${f.name} | ${f2(f.ours)} | ${f2(f.theirs)} | ${f2(f.ours / f.theirs)} |`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      reps: { type: 'string' },
      table: { type: 'boolean', default: false },
      corpus: { type: 'string', default: 'photos' },
      photos: { type: 'string' },
      modes: { type: 'string' },
      json: { type: 'string' },
      'alt-dist': { type: 'string' },
      'alt-malloc': { type: 'string' },
      'host-heap': { type: 'string' },
    },
  });
  const result = await benchPeers({
    quick: values.quick,
    corpus: values.corpus,
    photos: values.photos ? Number(values.photos) : undefined,
    modes: values.modes ? values.modes.split(',') : undefined,
    table: values.table,
    rounds: values.rounds ? Number(values.rounds) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
    alt:
      values['alt-dist'] || values['alt-malloc']
        ? { dist: values['alt-dist'] ? resolve(values['alt-dist']) : undefined, malloc: values['alt-malloc'] }
        : undefined,
    hostHeap: values['host-heap'] ? Number(values['host-heap']) : undefined,
  });
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 1) + '\n');
}
