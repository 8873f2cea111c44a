// athena-rx's side of bench/peers.mjs as a child process, speaking bench/peers.py's protocol (one
// JSON object per line), so that it can run under another environment than the bench itself
// (GLIBC_TUNABLES: the malloc settings the CLI starts with; PEERS_AS_CLI=1: libvips' cache off, as
// the CLI sets it) and count only its own CPU.
//
// First line {"files": [paths]} -> {"ready": true}. Then {"run": mode, "reps": n} runs every file n
// times and answers {"cpu_ms": [per file, mean over reps], "bytes": [...]}; {"md5": true} answers
// the MD5 of each file's prepared pixels; {"faults": true} the minor page faults so far. Modes:
//   client           prepareImage(path), MD5+SHA1, uncompressed (our default)
//   prepareNoHashes  prepareImage(path, { hashes: [] })
//   decode           decodeRaw(bytes in memory)
//   resize           resizeToModel(decoded), the image decoded just before, outside the count
//   resizeInMemory   the same after one resize outside the count (an image in memory a while)
//   brotli<q>        prepareImage(bytes, Brotli at q)
//   clientWorker     'client' with decodeThread: 'worker' (decoding and resizing on a worker thread)
// PEERS_HOST_HEAP_MB=N first fills the heap with about N MB of small live objects, as an
// application's own data would (the collections that decoded images make due cost more there).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cpuMs, distDir, load } from './lib.mjs';

const { athena } = load();
const ballast = [];
const heapMb = Number(process.env.PEERS_HOST_HEAP_MB ?? 0);
for (const base = process.memoryUsage().heapUsed; process.memoryUsage().heapUsed - base < heapMb * 1e6;) {
  ballast.push(Array.from({ length: 10_000 }, (_, i) => ({ i, name: `object ${ballast.length}.${i}` })));
}
// PEERS_AS_CLI=1: what bin/athena-rx.js does besides its malloc settings (the parent sets those).
if (process.env.PEERS_AS_CLI === '1') createRequire(import.meta.url)('sharp').cache(false);
const req = createRequire(import.meta.url);
const { decodeRaw } = req(join(distDir(), 'preprocess', 'decode.js'));
const { resizeToModel } = req(join(distDir(), 'preprocess', 'resize.js'));

let paths = [];
let files = [];

async function run(mode, reps) {
  const cpu = [];
  const bytes = [];
  for (let f = 0; f < paths.length; f++) {
    const path = paths[f];
    const source = files[f];
    if (mode === 'resize' || mode === 'resizeInMemory') {
      const decoded = await decodeRaw(source);
      if (mode === 'resizeInMemory') resizeToModel(decoded);
      const c0 = cpuMs();
      for (let i = 0; i < reps; i++) resizeToModel(decoded);
      cpu.push((cpuMs() - c0) / reps);
      bytes.push(602112);
      continue;
    }
    const c0 = cpuMs();
    let size = 0;
    for (let i = 0; i < reps; i++) {
      if (mode === 'decode') {
        size = (await decodeRaw(source)).data.length;
      } else if (mode.startsWith('brotli')) {
        size = (await athena.prepareImage(source, { encoding: 'brotli', brotliQuality: Number(mode.slice(6)) })).data.length;
      } else {
        const options =
          mode === 'client'
            ? { encoding: 'uncompressed' }
            : mode === 'clientWorker'
              ? { encoding: 'uncompressed', decodeThread: 'worker' }
              : { encoding: 'uncompressed', hashes: [] };
        size = (await athena.prepareImage(path, options)).data.length;
      }
    }
    cpu.push((cpuMs() - c0) / reps);
    bytes.push(size);
  }
  return { cpu_ms: cpu, bytes };
}

const out = (x) => process.stdout.write(JSON.stringify(x) + '\n');
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  if (cmd.files) {
    paths = cmd.files;
    files = paths.map((p) => readFileSync(p));
    // Warm-up: codecs, JIT, the WebAssembly module, the decoding worker thread (started once).
    for (const m of ['client', 'clientWorker', 'decode', 'resize']) {
      const [p, b] = [paths, files];
      [paths, files] = [p.slice(0, 3), b.slice(0, 3)];
      await run(m, 1);
      [paths, files] = [p, b];
    }
    out({ ready: true, tunables: process.env.GLIBC_TUNABLES ?? null });
  } else if (cmd.md5) {
    const md5 = [];
    for (const p of paths) {
      try {
        md5.push((await athena.prepareImage(p, { pixelHashes: ['md5'], hashes: [] })).pixelHashes[0].value);
      } catch {
        md5.push(null);
      }
    }
    out({ md5 });
  } else if (cmd.faults) {
    out({ faults: process.resourceUsage().minorPageFault });
  } else {
    out(await run(cmd.run, cmd.reps ?? 1));
  }
}
