// `npm run check`: the static checks, run by `npm test` beside jest: the type check, the lint,
// format, layer and API-report checks of issue 10, and the compile of the docs' code samples and
// the examples (check:samples). The type check and the type-aware lint (`check:ts`, the slowest)
// run in one lane and the others one after another in a second lane, so the two cores both work;
// each check's output is printed whole when it ends. Exit status 1 when any check fails, naming which.
//
// The same checks as each script alone, sooner on a second run (issue 23): `check:ts`
// (scripts/check-ts.mjs) is `npm run typecheck` and `npm run lint` on one TypeScript program,
// incremental (the files changed since the last clean run and those whose types a change can
// reach; everything in a clean clone), Prettier keeps a content-keyed cache, and the API report
// reads dist/'s declarations when dist/ is built from the current sources. The caches are in
// node_modules/.cache/athena-rx/. The type check runs once: the build does not check.
//
// A check that passed on exactly these files is not run again: each pass is recorded with a hash
// of every file it could read (./checkInputs.mjs: the tree's content outside node_modules/, what
// npm installed, dist/'s declarations, node's version), and a run whose hash matches says so in
// its line instead of spending the 15-20 CPU-seconds the five checks take even with their own
// caches (a third of a warm `npm test` on two cores). Each check's hash covers only the part of
// the tree it can read (`scopes` below): a change there runs it again.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputsState, readOr } from './checkInputs.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const lanes = [['check:ts'], ['check:layers', 'format:check', 'api:check', 'check:samples']];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * What each check cannot read, by path from the root: a change there does not run it again (a
 * test-only change leaves the layers, the samples and the API report as they were; a change to
 * the docs' prose runs only the samples). Only files the check never opens: tsc and ESLint read
 * no markdown, and .prettierignore leaves it out; dependency-cruiser follows the imports of src/
 * and its config; the samples are README.md, docs/ and examples/ compiled against src/'s
 * declarations; the API report is made from those against etc/.
 */
const outside =
  (...folders) =>
  (path) =>
    !folders.some((folder) => path.startsWith(folder));
const notMarkdown = (path) => !path.endsWith('.md');
// Prettier skips markdown only while .prettierignore says so (a change to that file runs it).
const prettierSkipsMarkdown = readOr(join(root, '.prettierignore')).toString('utf8').split('\n').includes('*.md');
const scopes = {
  'check:ts': notMarkdown,
  'format:check': prettierSkipsMarkdown ? notMarkdown : () => true,
  'check:layers': outside('test/', 'bench/', 'docs/', 'examples/', 'etc/', 'samples/', '.ci/', 'README.md', 'CHANGELOG.md'),
  'check:samples': outside('test/', 'bench/', 'etc/', 'samples/', '.ci/', 'CHANGELOG.md'),
  'api:check': outside('test/', 'bench/', 'docs/', 'examples/', 'samples/', '.ci/', 'README.md', 'CHANGELOG.md'),
};

const passesFile = join(root, 'node_modules/.cache/athena-rx/check-passes.json');
const inputs = inputsState(root, scopes).hashes;
const passes = readPasses();

function readPasses() {
  try {
    return JSON.parse(readFileSync(passesFile, 'utf8'));
  } catch {
    return {};
  }
}

/** Records that `script` passed on these inputs (the file is rewritten whole, with the others' passes). */
function recordPass(script) {
  const now = { ...readPasses(), [script]: inputs[script] };
  mkdirSync(dirname(passesFile), { recursive: true });
  writeFileSync(passesFile, JSON.stringify(now, null, 1) + '\n');
}

function run(script) {
  if (passes[script] === inputs[script]) {
    process.stdout.write(`ok   ${script} (passed on these same files before: not run again)\n`);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(npm, ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      // Recorded only when no file changed while it ran (the pass may be of other files): the
      // same hash, and no file touched since it started (changed and changed back, as a
      // `git stash` then `git stash pop` would).
      const after = code === 0 ? inputsState(root, { [script]: scopes[script] }) : undefined;
      if (after && after.hashes[script] === inputs[script] && after.newest < started) recordPass(script);
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
