// `npm run check`: the static checks, run by `npm test` before jest: the type check, and the lint,
// format, layer and API-report checks of issue 10. Lint (type-aware, the slowest) runs in one lane
// and the others one after another in a second lane, so the two cores both work; each check's
// output is printed whole when it ends. Exit status 1 when any check fails, naming which.
//
// The same checks as each script alone, sooner on a second run (issue 23): the lint is
// `lint:changed` (scripts/lint.mjs: the files changed since the last clean lint and every file
// that imports them; everything in a clean clone), Prettier keeps a content-keyed cache, and the
// API report reads dist/'s declarations when dist/ is built from the current sources. The caches
// are in node_modules/.cache/athena-rx/. The type check runs once: the build does not check.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const lanes = [['lint:changed'], ['typecheck', 'check:layers', 'format:check', 'api:check']];

function run(script) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(npm, ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`${code === 0 ? 'ok  ' : 'FAIL'} ${script} (${secs} s)\n${code === 0 ? '' : out}`);
      resolve(code === 0 ? undefined : script);
    });
  });
}

const failed = (
  await Promise.all(
    lanes.map(async (lane) => {
      const bad = [];
      for (const script of lane) {
        const result = await run(script);
        if (result) bad.push(result);
      }
      return bad;
    }),
  )
).flat();
if (failed.length > 0) {
  process.stdout.write(`check failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
