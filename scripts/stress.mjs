// `npm run test:stress`: the test suite on a machine whose cores are busy, as CI's may be (issue 23).
// Two busy processes (one per core of CI's two) run at normal priority for the whole time, while
//   1. the whole jest suite runs once, then
//   2. the suites that used to fail only under load run `--runs` times each (default 5), each run
//      a jest process of its own.
// Exit status 1 if any run failed; each failure's output is printed whole. The load average is
// printed before and after each step, so that a log says how loaded the machine was.
//
//   npm run test:stress                     the whole suite once, then each listed suite 5 times
//   npm run test:stress -- --runs 3         3 times each
//   npm run test:stress -- --no-full        only the listed suites
//   npm run test:stress -- --hogs 0         without the busy processes (the machine's own load only)
//   npm run test:stress -- --no-full --suite breaker --suite memory     only the listed suites named so
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { root } from './cache.mjs';
import { jestCommand } from './jest-process.mjs';

/** Suites that failed under load and passed alone, or held a fixed sleep that asserted an absence. */
const SUITES = [
  'test/examples/examples.spec.ts',
  'test/pipeline/breaker.spec.ts',
  'test/testing/memory.spec.ts',
  'test/cli/process.spec.ts',
  'test/transport/client.spec.ts',
  'test/testing/deployments.spec.ts',
  'test/redis/redisWorker.spec.ts',
  // Failed once in a whole run at load 4-8 (1 s tokens; now 3 s).
  'test/pipeline/rotation.spec.ts',
  // Its started worker found the stream already emptied by the faster others once in two runs
  // (fixed: half the jobs are enqueued once it reads). Then, at load 5-7, w1 wrote no result within
  // 60 s (w2 and w3 took the jobs first), and idle, w1 was killed holding none (fixed: w1 runs
  // alone, and is frozen with SIGSTOP holding jobs before the others start).
  'test/redis/fleet.spec.ts',
  // Read the pending set while jobs answered just before the outage were still being recorded,
  // once at load 8 with four jest workers (fixed: what stays pending must have been held); then,
  // once in cloudsdk's .ci/run, while a read begun before the outage was on its way (fixed in
  // the worker: it tells of the outage once no read is).
  'test/redis/sigtermOutage.spec.ts',
];

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    hogs: { type: 'string', default: '2' },
    'no-full': { type: 'boolean', default: false },
    suite: { type: 'string', multiple: true },
  },
});
const suites = values.suite ? SUITES.filter((s) => values.suite.some((part) => s.includes(part))) : SUITES;
const runs = Number(values.runs);
const hogCount = Number(values.hogs);

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const hogs = Array.from({ length: hogCount }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
const stopHogs = () => hogs.forEach((h) => h.kill('SIGKILL'));
process.on('exit', stopHogs);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** Runs jest with `args`; resolves with whether it passed, printing its output only when it failed. */
function jest(label, args) {
  return new Promise((resolve) => {
    const started = Date.now();
    // As `npm test` starts it (scripts/jest-process.mjs).
    const run = jestCommand(args);
    const child = spawn(run.command, run.args, {
      cwd: root,
      env: run.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`${code === 0 ? 'ok  ' : 'FAIL'} ${label} (${secs} s; load average now ${load()})\n`);
      if (code !== 0) process.stdout.write(out + '\n');
      resolve(code === 0);
    });
  });
}

process.stdout.write(`test:stress: ${hogCount} busy processes; load average ${load()}\n`);
const failed = [];
if (!values['no-full']) {
  if (!(await jest('the whole suite', []))) failed.push('the whole suite');
}
for (let run = 1; run <= runs; run++) {
  for (const suite of suites) {
    const label = `${suite} (run ${run} of ${runs})`;
    if (!(await jest(label, ['--maxWorkers=1', suite]))) failed.push(label);
  }
}
stopHogs();
if (failed.length > 0) {
  process.stdout.write(`test:stress: ${failed.length} failed:\n${failed.map((f) => `  ${f}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`test:stress: all passed; load average ${load()}\n`);
