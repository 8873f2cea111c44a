// End to end against the Python client, on the photo corpus: the athena-rx CLI (`classify`, its
// defaults, started as a user starts it: `bin/athena-rx.js` run directly) against the Python
// client's recipe over gRPC with compression off (bench/peers_e2e.py), each sending every photo
// to the in-process server (bench/server.mjs) and waiting for every answer. Also the CLI with each
// `--wire`, and the CLI under glibc's default malloc (`node bin/athena-rx.js`), so that the default
// wire and the malloc settings are chosen by measurement. Prints ratios, never asserts.
//
//   npm run build && node bench/peers-e2e.mjs [--photos N] [--rounds N]
//
// CPU is the whole client process, start-up included (`/usr/bin/time`: user + system, children
// waited for included), divided by the images; the client is pinned to one CPU and the server to
// the other (`taskset`), as a remote service would be. Rounds rotate the order of the runs; the
// ratio to the Python client is taken within each round and the median reported. The server's CPU
// per image is read from the server itself around each run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeCorpus, photoCorpus } from './corpus.mjs';
import { f2, here, load, median, root, separateCpus, startServerProcess } from './lib.mjs';
import { findPython } from './peers.mjs';

/** Runs `command` under /usr/bin/time (pinned with taskset when `cpu`): CPU ms and stdout. */
function timed(command, args, { cpu, env = process.env } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'athena-peers-e2e-'));
  const out = join(dir, 'time');
  const pin = cpu === undefined ? [] : ['taskset', '-c', cpu];
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', out, ...pin, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`${command} ${args.slice(0, 3).join(' ')} ... exited ${code}: ${stderr.slice(-500)}`);
        const [user, sys] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number);
        resolve({ cpuMs: (user + sys) * 1000, stdout });
      } catch (err) {
        reject(err);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export async function benchPeersE2e({ photos, rounds = 3, log = console.log } = {}) {
  const found = findPython();
  if (!found) {
    log('\npeers end to end: not measured (no Python with cv2 and numpy; install python3-opencv)');
    return { measured: false };
  }
  const grpcOk = await timed(found.python, ['-c', 'import grpc, google.protobuf']).then(
    () => true,
    () => false,
  );
  const corpus = await photoCorpus({ count: photos });
  const dir = corpus[0].path.slice(0, corpus[0].path.lastIndexOf('/'));
  const cpus = separateCpus();
  if (cpus) process.env.BENCH_SERVER_CPUS = cpus.server;
  const server = await startServerProcess();
  const n = corpus.length;
  const bin = join(root, 'bin', 'athena-rx.js');
  const cli = (extra) => ['classify', dir, '--address', server.address, '--insecure', '--format', 'jsonl', ...extra];
  const plainEnv = { ...process.env };
  delete plainEnv.GLIBC_TUNABLES;
  const runs = {
    'CLI defaults': () => timed(bin, cli([]), { cpu: cpus?.client, env: plainEnv }),
    'CLI --wire png': () => timed(bin, cli(['--wire', 'png']), { cpu: cpus?.client, env: plainEnv }),
    'CLI --wire brotli (q1)': () => timed(bin, cli(['--wire', 'brotli']), { cpu: cpus?.client, env: plainEnv }),
    'CLI --decode-thread current': () => timed(bin, cli(['--decode-thread', 'current']), { cpu: cpus?.client, env: plainEnv }),
    'CLI --decode-thread worker': () => timed(bin, cli(['--decode-thread', 'worker']), { cpu: cpus?.client, env: plainEnv }),
    "CLI defaults, glibc's default malloc": () => timed(process.execPath, [bin, ...cli([])], { cpu: cpus?.client, env: plainEnv }),
    ...(grpcOk
      ? {
          'Python client, compression off': () =>
            timed(found.python, [join(here, 'peers_e2e.py'), '--address', server.address, '--batch', '32', ...corpus.map((p) => p.path)], {
              cpu: cpus?.client,
            }),
        }
      : {}),
  };
  const names = Object.keys(runs);
  const got = Object.fromEntries(names.map((k) => [k, []]));
  const loadStart = loadavg();
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const s0 = await server.cpuMs();
      const r = await runs[name]();
      const s1 = await server.cpuMs();
      if (name.startsWith('CLI')) {
        const lines = r.stdout.trim().split('\n').filter(Boolean);
        const ok = lines.filter((l) => JSON.parse(l).outcome === 'success').length;
        if (ok !== n) throw new Error(`${name}: ${ok} of ${n} images classified`);
      } else {
        const last = JSON.parse(r.stdout.trim().split('\n').pop());
        if (last.images !== n || last.failures) throw new Error(`${name}: ${last.images} of ${n} answered, ${last.failures} failures`);
      }
      got[name].push({ client: r.cpuMs / n, server: (s1 - s0) / n });
    }
    log(`peers end to end: round ${round + 1} of ${rounds} done (load average ${loadavg().map(f2).join(' ')})`);
  }
  await server.stop();

  // Bytes per image on the wire for each form, from the same photos (prepareImage in this process).
  const { athena } = load();
  const bytes = { raw: 0, png: 0, brotli: 0 };
  for (const p of corpus) {
    for (const [wire, encoding] of [
      ['raw', 'uncompressed'],
      ['png', 'png'],
      ['brotli', 'brotli'],
    ]) {
      bytes[wire] += (await athena.prepareImage(p.path, { encoding, hashes: [] })).data.length / n;
    }
  }

  const python = names.find((k) => k.startsWith('Python'));
  const result = {
    measured: true,
    corpus: describeCorpus(corpus),
    cpus,
    rounds,
    loadavg: { start: loadStart, end: loadavg() },
    bytes,
    rows: {},
  };
  for (const name of names) {
    const xs = got[name];
    const ratios = python ? xs.map((x, i) => x.client / got[python][i].client) : [];
    result.rows[name] = {
      client: median(xs.map((x) => x.client)),
      server: median(xs.map((x) => x.server)),
      ratio: python ? median(ratios) : NaN,
      ratios,
    };
  }
  log(
    `\npeers end to end: ${result.corpus}; client on CPU ${cpus?.client ?? '(shared)'}, server on CPU ${cpus?.server ?? '(shared)'}; whole client process CPU (start-up included) per image, median of ${rounds} rounds; load average ${loadStart.map(f2).join(' ')} at the start, ${result.loadavg.end.map(f2).join(' ')} at the end`,
  );
  log('| client | client CPU ms/image | / Python client (median of rounds) | per round | server CPU ms/image |');
  log('|---|--:|--:|---|--:|');
  for (const [name, x] of Object.entries(result.rows)) {
    log(`| ${name} | ${f2(x.client)} | ${f2(x.ratio)} | ${x.ratios.map(f2).join(' ')} | ${f2(x.server)} |`);
  }
  log(
    `wire bytes per image on these photos: raw ${Math.round(bytes.raw)}, png ${Math.round(bytes.png)} (${f2(bytes.png / bytes.raw)}), Brotli q1 ${Math.round(bytes.brotli)} (${f2(bytes.brotli / bytes.raw)})`,
  );
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { photos: { type: 'string' }, rounds: { type: 'string' } } });
  await benchPeersE2e({
    photos: values.photos ? Number(values.photos) : undefined,
    rounds: values.rounds ? Number(values.rounds) : undefined,
  });
}
