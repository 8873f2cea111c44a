// Helpers shared by the benchmarks of `npm run bench` (bench/run.mjs). Benchmarks print ratios
// against a baseline measured in the same run; they never assert times.
//
// Every benchmark runs against the built package: dist/cjs of this checkout, or ATHENA_DIST.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..');
export const distDir = () => resolve(process.env.ATHENA_DIST ?? join(root, 'dist', 'cjs'));

const require = createRequire(import.meta.url);
/** The built package (`require(dist/cjs)`), its testing entry, and the rxjs instance it uses. */
export const load = () => ({
  athena: require(join(distDir(), 'index.js')),
  testing: require(join(distDir(), 'testing', 'index.js')),
  rxjs: require('rxjs'),
});

/** The sample photos (448x448 to 1600x1200, several formats): file paths and bytes. */
export function samplePhotos() {
  const dir = join(root, 'samples');
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g|webp|tiff?)$/i.test(f) && f !== 'not-an-image.jpg')
    .sort()
    .map((name) => ({ name, path: join(dir, name), bytes: readFileSync(join(dir, name)) }));
}

export const sum = (xs) => xs.reduce((a, b) => a + b, 0);
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Nearest-rank percentile (p in 0..100). */
export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

/**
 * Starts bench/server.mjs (the in-process Athena server from dist/cjs/testing) in a child
 * process, so that it never shares an event loop or a heap with the client being measured.
 * Returns its address and a few controls over a line protocol on its stdin.
 */
export async function startServerProcess({ latency = 0, tls } = {}) {
  // BENCH_SERVER_NODE_ARGS (e.g. '--cpu-prof --cpu-prof-dir=tmp/prof') goes to the server's node.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  // BENCH_SERVER_CPUS (e.g. '2-3', Linux `taskset` syntax) runs the server on those CPUs only, so
  // that on a host with 4 or more it does not take the client's: start the client with
  // `taskset -c 0-1` and the end-to-end ratio measures the client alone.
  const cpus = process.env.BENCH_SERVER_CPUS;
  const command = [
    process.execPath,
    ...nodeArgs,
    join(here, 'server.mjs'),
    '--latency',
    String(latency),
    ...(tls ? ['--tls', tls.dir] : []),
  ];
  const [file, ...args] = cpus ? ['taskset', '-c', cpus, ...command] : command;
  const child = spawn(file, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise((resolve) => waiting.push(resolve));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const address = await Promise.race([
    nextLine(),
    exited.then((code) => {
      throw new Error(`bench server exited (${code}) before printing its address`);
    }),
  ]);
  const ask = async (command) => {
    const reply = nextLine();
    child.stdin.write(command + '\n');
    return JSON.parse(await reply);
  };
  return {
    address,
    /** Sets the server's latency fault (ms before each response). */
    latency: (ms) => ask(`latency ${ms}`),
    /** The server process's CPU time so far, ms (user + system). */
    cpuMs: async () => (await ask('cpu')).cpuMs,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with `openssl` in a new temporary
 * directory: `{ dir, cert }` (cert.pem and key.pem in `dir`), or undefined where openssl is missing.
 */
export function selfSignedCert() {
  const dir = mkdtempSync(join(tmpdir(), 'athena-bench-tls-'));
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  if (made.status !== 0) return undefined;
  return { dir, cert: readFileSync(join(dir, 'cert.pem')) };
}

/** CPU ms (user + system) this process has used. */
export const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Peak resident set of this process so far (Linux VmHWM), bytes; RSS now where /proc is absent. */
export function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage.rss();
}

/**
 * CPUs for a client and a server that must not share any (Linux `taskset` lists): the last CPU
 * for the server, the others for the client. Undefined where `taskset` is missing, off Linux, or
 * with a single CPU.
 */
export function separateCpus() {
  const n = availableParallelism();
  if (process.platform !== 'linux' || n < 2 || spawnSync('taskset', ['-V']).status !== 0) return undefined;
  return { client: n === 2 ? '0' : `0-${n - 2}`, server: String(n - 1) };
}

/** Runs `node file args` (after `prefix`, e.g. `taskset -c 0`) and parses the last stdout line as JSON. */
export function runChild(file, args = [], { execArgv = [], prefix = [], env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const [command, ...rest] = [...prefix, process.execPath, ...execArgv, file, ...args];
    const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop();
      if (code !== 0) return reject(new Error(`${file} exited with ${code}: ${out}`));
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${file}: no JSON on the last line: ${out}`));
      }
    });
  });
}

export const mb = (bytes) => (bytes / 1e6).toFixed(1);
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
