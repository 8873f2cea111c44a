// Against the peers: the official Python client's recipe (OpenCV `imdecode` + `INTER_LINEAR`
// resize, MD5 + SHA-256 of the file; bench/peers.py) on the same files, in the same run, beside
// `prepareImage`. Optional: skipped, saying "not measured", where Python, OpenCV or numpy is
// missing. Prints ratios, never asserts.
//
//   npm run build && node bench/peers.mjs [--corpus photos|fixtures] [--photos N] [--quick]
//                                         [--rounds N] [--reps N] [--modes a,b] [--table]
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
//   resize           resizeToModel(decoded) / cv2.resize(decoded) (decoded once, outside the count)
//   brotli1          prepareImage(bytes, Brotli q1) / imdecode, resize, Brotli q1 (not by default)
//
// BENCH_PYTHON names the interpreter (default: the first of /usr/bin/python3, python3 that can
// `import cv2, numpy`; Debian's python3-opencv is in /usr/bin).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMs, distDir, f2, here, load, median, root, sum } from './lib.mjs';
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

/** bench/peers.py as a long-lived child: `ask(command)` answers one JSON line. */
async function startPeer(python, files) {
  const child = spawn(python, [join(here, 'peers.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ask = (command) =>
    Promise.race([
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(JSON.stringify(command) + '\n');
      }),
      exited.then((code) => {
        throw new Error(`bench/peers.py exited (${code})`);
      }),
    ]);
  const hello = await ask({ files });
  return { ...hello, ask, stop: () => (child.stdin.end(), exited) };
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

export const DEFAULT_MODES = ['client', 'prepareNoHashes', 'decode', 'resize'];

export async function benchPeers({
  quick = false,
  rounds,
  reps,
  table = false,
  corpus = 'photos',
  photos,
  modes = DEFAULT_MODES,
  log = console.log,
} = {}) {
  const found = findPython();
  if (!found) {
    log('\npeers: not measured (no Python with cv2 and numpy; install python3-opencv)');
    return { measured: false };
  }
  const { athena } = load();
  const req = createRequire(import.meta.url);
  const { decodeRaw } = req(join(distDir(), 'preprocess', 'decode.js'));
  const { resizeToModel } = req(join(distDir(), 'preprocess', 'resize.js'));
  const files =
    corpus === 'fixtures'
      ? fixtureCorpus()
      : (await photoCorpus({ count: photos ?? (quick ? 20 : undefined) })).map((p) => ({
          ...p,
          bytes: readFileSync(p.path),
        }));
  const corpusLine = corpus === 'fixtures' ? `${files.length} images (fixture corpus)` : describeCorpus(files);
  const loadAtStart = loadavg();
  const peer = await startPeer(
    found.python,
    files.map((f) => f.path),
  );
  const r = rounds ?? (quick ? 2 : corpus === 'photos' ? 3 : 5);
  const k = reps ?? (quick || corpus === 'photos' ? 1 : 3);

  // Ours, one image at a time, per file the mean CPU over k runs.
  const ours = async (mode, list = files) => {
    const cpu = [];
    const bytes = [];
    for (const { bytes: source, path } of list) {
      if (mode === 'resize') {
        // The resize alone, on an image decoded outside the count.
        const decoded = await decodeRaw(source);
        const c0 = cpuMs();
        for (let i = 0; i < k; i++) resizeToModel(decoded);
        cpu.push((cpuMs() - c0) / k);
        bytes.push(602112);
        continue;
      }
      const c0 = cpuMs();
      let size = 0;
      for (let i = 0; i < k; i++) {
        if (mode === 'decode') {
          const d = await decodeRaw(source);
          size = d.data.length;
        } else {
          // From the file, as the CLI and the Python client read it.
          const options =
            mode === 'client'
              ? { encoding: 'uncompressed' }
              : mode === 'prepareNoHashes'
                ? { encoding: 'uncompressed', hashes: [] }
                : { encoding: 'brotli', brotliQuality: Number(mode.slice('brotli'.length)) };
          size = (await athena.prepareImage(mode.startsWith('brotli') ? source : path, options)).data.length;
        }
      }
      cpu.push((cpuMs() - c0) / k);
      bytes.push(size);
    }
    return { cpu_ms: cpu, bytes };
  };
  // 'client' is the headline: our default preparation against the Python client's own (which
  // hashes with MD5 and SHA-256); 'prepareNoHashes' the plain recipe on both sides.
  const theirs = (mode) => peer.ask({ run: mode === 'prepareNoHashes' ? 'prepare' : mode, reps: k });
  for (const m of modes) await ours(m, files.slice(0, 4)); // warm-up: codecs, JIT
  const runs = Object.fromEntries(modes.map((m) => [m, { ours: [], theirs: [], ratios: [] }]));
  for (let round = 0; round < r; round++) {
    for (const m of modes) {
      const pair = round % 2 ? [await theirs(m), await ours(m)].reverse() : [await ours(m), await theirs(m)];
      const [a, b] = pair;
      runs[m].ours.push(a);
      runs[m].theirs.push(b);
      runs[m].ratios.push(sum(a.cpu_ms) / sum(b.cpu_ms));
    }
  }

  // Pixel parity, in the same run: OpenCV's prepared pixels against ours.
  const theirMd5 = (await peer.ask({ md5: true })).md5;
  let identical = 0;
  let compared = 0;
  for (let i = 0; i < files.length; i++) {
    if (!theirMd5[i]) continue;
    compared++;
    const mine = await athena.prepareImage(files[i].path, { pixelHashes: ['md5'], hashes: [] });
    if (mine.pixelHashes.find((h) => h.algorithm === 'md5')?.value === theirMd5[i]) identical++;
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
  const pngMd5 = (await peer.ask({ decode_md5: pngPaths })).md5;
  const pngIdentical = pngMd5.filter((m, i) => m === rawMd5[i]).length;
  rmSync(dir, { recursive: true, force: true });
  await peer.stop();

  const n = files.length;
  const result = {
    measured: true,
    corpus: corpusLine,
    loadavg: { start: loadAtStart, end: loadavg() },
    python: found.python,
    cv2: peer.cv2,
    brotli: peer.brotli,
    images: n,
    rounds: r,
    reps: k,
    identical,
    compared,
    pngIdentical,
    pngCompared: pngPaths.length,
    modes: {},
  };
  for (const m of modes) {
    const x = runs[m];
    const perFile = (side) => files.map((_, i) => median(x[side].map((run) => run.cpu_ms[i])));
    const o = perFile('ours');
    const t = perFile('theirs');
    result.modes[m] = {
      ours: sum(o) / n,
      theirs: sum(t) / n,
      ratio: median(x.ratios),
      ratios: x.ratios,
      oursBytes: sum(x.ours[0].bytes) / n,
      theirsBytes: sum(x.theirs[0].bytes) / n,
      perFile: files.map((f, i) => ({ name: f.name, format: formatOf(f.name), ours: o[i], theirs: t[i] })),
    };
  }
  log(
    `\npeers: ${corpusLine}; ${found.python} with OpenCV ${peer.cv2}; one image at a time, CPU ms per image (mean over the corpus), median of ${r} rounds of ${k}; load average ${loadAtStart.map(f2).join(' ')} at the start, ${result.loadavg.end.map(f2).join(' ')} at the end`,
  );
  log(
    `pixels: ${identical}/${compared} prepared images identical to OpenCV's (MD5 of the B,G,R bytes); compact wire: cv2.imdecode of our PNG gives back exactly our pixels for ${pngIdentical}/${pngPaths.length}`,
  );
  log('| recipe | athena-rx CPU ms/image | Python reference CPU ms/image | athena-rx / Python (median of rounds) | per round |');
  log('|---|--:|--:|--:|---|');
  const label = {
    client: 'prepare from the file: ours MD5+SHA1 (default) / the Python client MD5+SHA-256',
    prepareNoHashes: 'prepare from the file, no hashes (read, decode, resize)',
    brotli1: 'prepare + Brotli q1 (ours with MD5+SHA1)',
    decode: 'decode only (our decodeRaw / imdecode)',
    resize: 'resize only (resizeToModel / cv2.resize)',
  };
  for (const [m, x] of Object.entries(result.modes)) {
    log(`| ${label[m]} | ${f2(x.ours)} | ${f2(x.theirs)} | ${f2(x.ratio)} | ${x.ratios.map(f2).join(' ')} |`);
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
  });
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 1) + '\n');
}
