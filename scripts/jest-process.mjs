// How `npm test` and `npm run test:stress` start jest: the same node settings for both, so that a
// stress run loads the machine as the test command does (issue 23).
//
// - GLIBC_TUNABLES, the CLI's malloc settings (read from bin/athena-rx.js; docs/performance.md "Memory"):
//   the image tests allocate many large short-lived buffers, and with glibc's defaults each one
//   came from fresh pages. Measured on the idle two-core machine, jest alone, 5 December 2026:
//   the jest workers took 1.26-1.35 million page faults a run with the defaults and 0.42-0.49
//   million with these, and their system time fell from 16-18 to 11-14 CPU-s. The variable
//   reaches every process the tests start; the memory tests' server child is given glibc's
//   defaults back (test/testing/memory/harness.ts), since it measures what an application's
//   process holds. Your own GLIBC_TUNABLES come last and win.
// - --single-threaded-gc, for the jest workers only (jest forks them with its own node flags):
//   four workers share CI's two cores, so V8's parallel and concurrent collector threads add
//   CPU (and wake-ups) without making any worker finish sooner. Figures in docs/contributing.md.
import { createRequire } from 'node:module';
import { binSettings } from './bin-settings.mjs';

const require = createRequire(import.meta.url);

/** The program, arguments and environment that run jest with `args`. */
export function jestCommand(args) {
  const { tunables } = binSettings();
  const own = process.env.GLIBC_TUNABLES;
  return {
    command: process.execPath,
    args: ['--single-threaded-gc', require.resolve('jest/bin/jest'), ...args],
    env: { ...process.env, GLIBC_TUNABLES: own ? `${tunables}:${own}` : tunables },
  };
}
