import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/** The relative link targets of a Markdown text: inline `[text](target)`, images, and `[ref]: target`. */
export function relativeLinks(markdown: string): string[] {
  // Code is not prose: links inside fences and backticks are examples, not navigation.
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
}

/**
 * Every relative link in the Markdown the package ships must lead to a file the package ships:
 * a user reading README.md or docs/ inside node_modules (or on the registry's page) otherwise
 * follows a link that goes nowhere. The file list is npm's own (`npm pack --dry-run`), so the
 * `files` field of package.json and .npmignore rules are what is checked.
 */
describe('links in the shipped Markdown', () => {
  let packed: Set<string>;

  beforeAll(async () => {
    // --ignore-scripts: only the list is wanted, not a build (dist/ is not linked from Markdown).
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const [report] = JSON.parse(stdout) as { files: { path: string }[] }[];
    packed = new Set(report!.files.map((f) => f.path));
  }, 60_000);

  it('finds inline, image and reference links, and skips code, URLs and anchors (the extractor works)', () => {
    const md = [
      'See [a](docs/a.md), ![img](../b.png "title") and [c][c].',
      '[c]: sub/c.md',
      '[web](https://example.com) [top](#top) `[code](not/a/link.md)`',
      '```md',
      '[fenced](not/either.md)',
      '```',
    ].join('\n');
    expect(relativeLinks(md)).toEqual(['docs/a.md', '../b.png', 'sub/c.md']);
  });

  it('ships README.md and docs/, and every relative link in them resolves to a shipped file or folder', () => {
    const markdown = [...packed].filter((f) => f.endsWith('.md'));
    expect(markdown).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/getting-started.md']));
    const dead: string[] = [];
    for (const file of markdown) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const link of relativeLinks(text)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(link.split('#')[0]!)));
        const isFile = packed.has(target);
        const isFolder = [...packed].some((f) => f.startsWith(target.replace(/\/$/, '') + '/'));
        if (!isFile && !isFolder) dead.push(`${file}: ${link}`);
      }
    }
    expect(dead).toEqual([]);
  });
});
