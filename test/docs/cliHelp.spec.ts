import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { fakeIo } from '../cli/fakeIo';

/**
 * docs/cli.md shows every command's `--help` as the program prints it, so the page cannot drift
 * from the code: each block follows a marker `<!-- athena-rx <command> --help -->`. Sections and
 * prose around the blocks are free; a command without a block, or a block that differs, fails here.
 * `npm run build && npm run docs:cli` rewrites the blocks (and adds a section for a new command).
 */
const page = path.resolve(__dirname, '../../docs/cli.md');
const FIX = 'run `npm run build && npm run docs:cli` to regenerate the --help blocks of docs/cli.md';

async function help(args: string[]): Promise<string> {
  const io = fakeIo();
  expect(await main(args, io)).toBe(0);
  return io.out().replace(/\n+$/, '');
}

/** The ```text block after the marker for `command` ('' for the command list), or undefined. */
export function helpBlock(markdown: string, command: string): string | undefined {
  const marker = `<!-- athena-rx ${command ? command + ' ' : ''}--help -->`;
  const at = markdown.indexOf(marker);
  if (at < 0) return undefined;
  const match = /^```text\n([\s\S]*?)^```[ \t]*$/m.exec(markdown.slice(at + marker.length));
  return match?.[1]?.replace(/\n+$/, '');
}

describe('docs/cli.md against the real --help', () => {
  const markdown = fs.readFileSync(page, 'utf8');
  let usage: string;
  let commands: string[];

  beforeAll(async () => {
    usage = await help(['--help']);
    commands = [...(usage.split('commands:\n')[1] ?? '').matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
  });

  it('finds the block after a marker (the extractor works)', () => {
    const md = 'x\n<!-- athena-rx foo --help -->\n\n```text\nusage: foo\n\n  --bar\n```\nafter\n```text\nnot this\n```\n';
    expect(helpBlock(md, 'foo')).toBe('usage: foo\n\n  --bar');
    expect(helpBlock(md, 'baz')).toBeUndefined();
  });

  it('the usage block is `athena-rx --help`, which lists every command', () => {
    expect(commands).toEqual(expect.arrayContaining(['classify', 'single', 'deployments', 'e2e', 'prepare', 'serve']));
    expect({ block: helpBlock(markdown, ''), fix: FIX }).toEqual({ block: usage, fix: FIX });
  });

  it('every command has a section whose block is its --help, word for word', async () => {
    for (const command of commands) {
      const block = helpBlock(markdown, command);
      expect({ command, block, fix: FIX }).toEqual({ command, block: await help([command, '--help']), fix: FIX });
      // The block sits in a section whose heading names the command (commands may share one).
      const heading = markdown.lastIndexOf('\n## ', markdown.indexOf(`<!-- athena-rx ${command} --help -->`));
      expect(markdown.slice(heading + 4, markdown.indexOf('\n', heading + 1))).toContain(`\`athena-rx ${command}\``);
    }
  });
});
