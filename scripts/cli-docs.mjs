// Writes the real `--help` of every `athena-rx` command into docs/cli.md, so the page cannot drift
// from the program (test/docs/cliHelp.spec.ts fails when it does).
//
//   npm run build && npm run docs:cli          rewrite the blocks in place
//   npm run docs:cli -- --check                exit 1 if any block differs, change nothing
//
// Each block follows a marker line `<!-- athena-rx <command> --help -->` (`<!-- athena-rx --help -->`
// for the command list) and is the fenced ```text block right after it. Everything else on the page
// is prose and left alone. A command that has no marker yet gets a section appended at the end,
// to be moved and given prose by hand.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'docs/cli.md');
const require = createRequire(import.meta.url);
const { main } = require(join(root, 'dist/cjs/cli/main.js'));

async function help(args) {
  let out = '';
  const stdout = new Writable({ write: (chunk, _enc, done) => ((out += chunk.toString()), done()) });
  const stderr = new Writable({ write: (_chunk, _enc, done) => done() });
  const code = await main(args, { stdout, stderr, env: {}, cwd: root });
  if (code !== 0) throw new Error(`athena-rx ${args.join(' ')} exited ${code}`);
  return out.replace(/\n+$/, '');
}

/** The command names, in the order `athena-rx --help` lists them. */
function commandNames(usage) {
  const list = usage.split('commands:\n')[1] ?? '';
  return [...list.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
}

const marker = (command) => `<!-- athena-rx ${command ? command + ' ' : ''}--help -->`;

/** Replaces the fenced block after `marker` with `text`; undefined when the marker is absent. */
function replaceBlock(markdown, mark, text) {
  const at = markdown.indexOf(mark);
  if (at < 0) return undefined;
  const open = markdown.indexOf('```text\n', at);
  // From the opening line's own newline, so that an empty block closes at its own fence.
  const close = markdown.indexOf('\n```', open + 7);
  if (open < 0 || close < 0) throw new Error(`docs/cli.md: no \`\`\`text block after ${mark}`);
  return markdown.slice(0, open) + '```text\n' + text + markdown.slice(close);
}

const check = process.argv.includes('--check');
const before = readFileSync(page, 'utf8');
let markdown = before;
const usage = await help(['--help']);
markdown = replaceBlock(markdown, marker(''), usage) ?? markdown;
for (const name of commandNames(usage)) {
  const text = await help([name, '--help']);
  const next = replaceBlock(markdown, marker(name), text);
  markdown = next ?? `${markdown.replace(/\n+$/, '')}\n\n## \`athena-rx ${name}\`\n\n${marker(name)}\n\`\`\`text\n${text}\n\`\`\`\n`;
}
if (markdown === before) {
  console.log('docs/cli.md: every --help block is up to date');
} else if (check) {
  console.error("docs/cli.md differs from the commands' --help: run `npm run build && npm run docs:cli`");
  process.exitCode = 1;
} else {
  writeFileSync(page, markdown);
  console.log('docs/cli.md: --help blocks rewritten');
}
