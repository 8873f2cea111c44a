// What starting the command line costs: CPU and wall time of a one-image `athena-rx classify` on
// the embedded server (the README's main job, as small as it gets), run from the one-file bundle
// the bin starts (dist/cli/athena-rx.js) and from the modules it was made from
// (dist/cjs/cli/main.js), against node starting and doing nothing, in the same run; and, for
// comparison, node loading the library (`require('athena-rx')`) and nothing else. Prints ratios,
// never asserts.
//
//   npm run build && node bench/cli-start.mjs [--quick] [--rounds N]
//
// Each variant runs with the bin's own `#!` settings (its malloc tunables and node flags), in an
// order that rotates from round to round. CPU is the child's own, user and system, from this
// process's reaped-children counters (/proc/self/stat: Linux, 10 ms ticks, so many rounds).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { binSettings } from '../scripts/bin-settings.mjs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { distDir, f2, median, root } from './lib.mjs';

/** Children's CPU so far (user + system, ms), counted when each is reaped. */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime, cstime (USER_HZ 100)
}

export async function benchCliStart({ quick = false, rounds, log = console.log } = {}) {
  if (process.platform !== 'linux') return { measured: false };
  const { tunables, nodeArgs } = binSettings();
  const image = join(root, 'samples', 'duck-pond.png');
  // The bin's own steps: sharp's cache off, main(argv), its exit code.
  const shim = (entry) =>
    `require('sharp').cache(false); require(${JSON.stringify(entry)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
  const variants = {
    'node, nothing loaded': ['-e', '0'],
    // What an application pays to load the library, for comparison.
    "require('athena-rx')": ['-e', `require(${JSON.stringify(join(distDir(), 'index.js'))})`],
    'from dist/cjs (modules)': ['-e', shim(join(distDir(), 'cli', 'main.js')), 'classify', image],
    'from dist/cli (one file)': ['-e', shim(join(distDir(), '..', 'cli', 'athena-rx.js')), 'classify', image],
  };
  const names = Object.keys(variants);
  const env = { ...process.env, GLIBC_TUNABLES: tunables };
  const run = (name) => {
    const cpu0 = childrenCpuMs();
    const t = performance.now();
    const r = spawnSync(process.execPath, [...nodeArgs, ...variants[name]], { env, cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cli-start ${name}: exit ${r.status}: ${r.stderr}`);
    return { cpu: childrenCpuMs() - cpu0, wall: performance.now() - t };
  };
  for (const name of names) run(name); // warm-up: the page cache
  const n = rounds ?? (quick ? 8 : 30);
  const got = Object.fromEntries(names.map((k) => [k, []]));
  for (let round = 0; round < n; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      got[name].push(run(name));
    }
  }
  const rows = Object.fromEntries(
    names.map((k) => [k, { cpuMs: median(got[k].map((x) => x.cpu)), wallMs: median(got[k].map((x) => x.wall)) }]),
  );
  const bare = rows['node, nothing loaded'];
  const modules = rows['from dist/cjs (modules)'];
  const bundle = rows['from dist/cli (one file)'];
  for (const k of names) log(`${k}: CPU ${f2(rows[k].cpuMs)} ms, wall ${f2(rows[k].wallMs)} ms (median of ${n})`);
  const ratio = bundle.cpuMs / modules.cpuMs;
  log(
    `one file against modules: CPU ${f2(ratio)}x; above node's own start ${f2((bundle.cpuMs - bare.cpuMs) / (modules.cpuMs - bare.cpuMs))}x`,
  );
  return { measured: true, rounds: n, rows, ratio };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' } } });
  await benchCliStart({ quick: values.quick, rounds: values.rounds ? Number(values.rounds) : undefined });
}
