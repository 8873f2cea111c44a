// `npm test`: the static checks (`npm run check`, scripts/check.mjs) and jest, at the same time.
//
// Why at once and not one after the other: jest spends much of its wall time waiting (an outage of
// the server, Redis workers, child processes starting), and the checks are single-threaded, so
// running them beside jest fills the cores that jest leaves idle instead of adding their whole
// time in front of it (issue 23). Nothing they do touches what the tests read: the checks write
// only to node_modules/.cache/athena-rx/ and temporary folders.
//
// Jest's output streams as it comes; each check prints one line when it ends (its whole output
// when it fails). Arguments go to jest (`npm test -- test/cli`). Exit status 1 when either fails,
// and the last lines say which.
import { spawn } from 'node:child_process';
import { jestCommand } from './jest-process.mjs';

const children = new Set();

function run(command, args, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    children.add(child);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

// A CI timeout or a supervisor may signal only this process: pass it on, so that jest (and the
// redis-servers and servers its suites started) stop too instead of running on orphaned. (Ctrl-C
// at a terminal already reaches the whole process group: SIGINT is not passed twice.)
for (const signal of ['SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
  });
}

const started = Date.now();
// Jest with the node settings of scripts/jest-process.mjs (malloc, the collector), as test:stress runs it.
const jestRun = jestCommand(process.argv.slice(2));
const [checks, jest] = await Promise.all([run(process.execPath, ['scripts/check.mjs']), run(jestRun.command, jestRun.args, jestRun.env)]);
const secs = ((Date.now() - started) / 1000).toFixed(0);
const failed = [checks !== 0 && 'the static checks (npm run check)', jest !== 0 && 'jest'].filter(Boolean);
process.stdout.write(
  failed.length === 0 ? `npm test: all passed in ${secs} s\n` : `npm test: FAILED: ${failed.join(' and ')} (${secs} s)\n`,
);
process.exit(failed.length === 0 ? 0 : 1);
