// Against the peers: the official Python client's recipe (OpenCV `imdecode` + `INTER_LINEAR`
// resize, optionally Brotli; bench/peers.py) on the same files, in the same run, beside
// `prepareImage`. Optional: skipped, saying "not measured", where Python, OpenCV or numpy is
// missing. Prints ratios, never asserts.
//
//   npm run build && node bench/peers.mjs [--quick] [--rounds N] [--reps N] [--table]
//
// Files: the fixture corpus (test/fixtures/preprocess/images) without the GIF, which OpenCV 4.6
// cannot decode. Both sides run one image at a time and count the CPU of their whole process (all
// threads: libvips' and OpenCV's pools included), per file the mean over --reps. Each round runs
// every pair (ours, theirs) in an order that alternates from round to round; a ratio is taken per
// round over the corpus total, and the median of the rounds is reported. The prepared pixels are
// compared too (MD5 of OpenCV's B,G,R against ours): a speed-up that changed a pixel would show.
//
// BENCH_PYTHON names the interpreter (default: the first of /usr/bin/python3, python3 that can
// `import cv2, numpy`; Debian's python3-opencv is in /usr/bin).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMs, distDir, f2, here, load, median, root, sum } from './lib.mjs';

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

/** The corpus: every fixture OpenCV decodes (all but the GIF), with a format label for the table. */
function corpus() {
  const dir = join(root, 'test/fixtures/preprocess/images');
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.gif'))
    .sort()
    .map((name) => ({ name, path: join(dir, name), bytes: readFileSync(join(dir, name)) }));
}

/** A label per file for the per-format totals (from the fixture's name and extension). */
function formatOf(name) {
  const ext = extname(name).slice(1).toLowerCase();
  if (ext === 'jpg') return name.includes('progressive') ? 'JPEG progressive' : name.includes('cmyk') ? 'JPEG CMYK' : 'JPEG baseline';
  if (ext === 'png') return name.includes('rgb16') ? 'PNG 16-bit' : name.includes('palette') ? 'PNG palette' : 'PNG 8-bit';
  if (ext === 'webp') return name.includes('lossless') ? 'WebP lossless' : 'WebP lossy';
  if (ext === 'tif') return 'TIFF';
  if (ext === 'bmp') return 'BMP';
  return 'Netpbm';
}

export async function benchPeers({ quick = false, rounds, reps, table = false, log = console.log } = {}) {
  const found = findPython();
  if (!found) {
    log('\npeers: not measured (no Python with cv2 and numpy; install python3-opencv)');
    return { measured: false };
  }
  const { athena } = load();
  const { decodeRaw } = createRequire(import.meta.url)(join(distDir(), 'preprocess', 'decode.js'));
  const files = corpus();
  const peer = await startPeer(
    found.python,
    files.map((f) => f.path),
  );
  const r = rounds ?? (quick ? 2 : 5);
  const k = reps ?? (quick ? 1 : 3);

  // Ours, one image at a time, per file the mean CPU over k runs.
  const ours = async (mode) => {
    const cpu = [];
    const bytes = [];
    for (const { bytes: source } of files) {
      const c0 = cpuMs();
      let size = 0;
      for (let i = 0; i < k; i++) {
        if (mode === 'decode') {
          const d = await decodeRaw(source);
          size = d.data.length;
        } else {
          const options =
            mode === 'prepare'
              ? { encoding: 'uncompressed' }
              : mode === 'prepareNoHashes'
                ? { encoding: 'uncompressed', hashes: [] }
                : { encoding: 'brotli', brotliQuality: Number(mode.slice('brotli'.length)) };
          size = (await athena.prepareImage(source, options)).data.length;
        }
      }
      cpu.push((cpuMs() - c0) / k);
      bytes.push(size);
    }
    return { cpu_ms: cpu, bytes };
  };
  // The reference recipe hashes nothing: 'prepareNoHashes' is the like-for-like comparison,
  // 'prepare' our default (MD5 and SHA-1 of the file, for known-image matching).
  const theirs = (mode) => peer.ask({ run: mode === 'prepareNoHashes' ? 'prepare' : mode, reps: k });

  const modes = ['prepareNoHashes', 'prepare', 'brotli1', 'decode'];
  for (const m of modes) {
    await ours(m); // warm-up: codecs, JIT
    await theirs(m);
  }
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
    const mine = await athena.prepareImage(files[i].bytes, { pixelHashes: ['md5'], hashes: [] });
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
    `\npeers: ${n} images (fixture corpus), ${found.python} with OpenCV ${peer.cv2}; one image at a time, CPU ms per image (mean over the corpus), median of ${r} rounds`,
  );
  log(
    `pixels: ${identical}/${compared} prepared images identical to OpenCV's (MD5 of the B,G,R bytes); compact wire: cv2.imdecode of our PNG gives back exactly our pixels for ${pngIdentical}/${pngPaths.length}`,
  );
  log('| recipe | athena-rx CPU ms/image | Python reference CPU ms/image | athena-rx / Python (median of rounds) | per round |');
  log('|---|--:|--:|--:|---|');
  const label = {
    prepareNoHashes: 'prepare, uncompressed, no hashes (like for like)',
    prepare: 'prepare, uncompressed, MD5+SHA1 (our default)',
    brotli1: 'prepare + Brotli q1 (ours with MD5+SHA1)',
    decode: 'decode only (our decodeRaw / imdecode)',
  };
  for (const [m, x] of Object.entries(result.modes)) {
    log(`| ${label[m]} | ${f2(x.ours)} | ${f2(x.theirs)} | ${f2(x.ratio)} | ${x.ratios.map(f2).join(' ')} |`);
  }
  // Where the difference is, per format: totals over the files of each kind.
  const groups = new Map();
  for (const m of ['prepare', 'decode']) {
    for (const f of result.modes[m === 'prepare' ? 'prepareNoHashes' : m].perFile) {
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
  if (table) {
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
    },
  });
  await benchPeers({
    quick: values.quick,
    table: values.table,
    rounds: values.rounds ? Number(values.rounds) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
  });
}
