/**
 * The CLI's basics (issue 22): --version, `help [command]`, the PCSAM column of the table,
 * `single` refusing --deployment-id, error messages on one line, and a demo that does not report
 * its own licence file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, oneLine } from '../../src/cli/main';
import { EXIT } from '../../src/cli/io';
import { withSampleNames } from '../../src/cli/samples';
import { fakeIo } from './fakeIo';

const root = join(__dirname, '../..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

describe('athena-rx basics', () => {
  it('--version (and -V) prints the package version and exits 0', async () => {
    for (const flag of ['--version', '-V']) {
      const io = fakeIo();
      expect(await main([flag], io)).toBe(EXIT.ok);
      expect(io.out()).toBe(`${version}\n`);
      expect(io.err()).toBe('');
    }
  });

  it('help lists the commands; help <command> is <command> --help', async () => {
    const list = fakeIo();
    expect(await main(['help'], list)).toBe(EXIT.ok);
    expect(list.out()).toMatch(/^usage: athena-rx <command> \[options\]/);
    expect(list.out()).toMatch(/^ {2}classify {5}/m);
    const one = fakeIo();
    const direct = fakeIo();
    expect(await main(['help', 'classify'], one)).toBe(EXIT.ok);
    expect(await main(['classify', '--help'], direct)).toBe(EXIT.ok);
    expect(one.out()).toBe(direct.out());
    const unknown = fakeIo();
    expect(await main(['help', 'nope'], unknown)).toBe(EXIT.usage);
    expect(unknown.err()).toMatch(/^athena-rx: unknown command 'nope'/);
  });

  it('single refuses --deployment-id (the unary call has no deployment), before any work', async () => {
    const io = fakeIo({ cwd: root });
    expect(await main(['single', 'samples/duck-pond.png', '--deployment-id', 'foo'], io)).toBe(EXIT.usage);
    expect(io.err()).toBe(
      'athena-rx single: --deployment-id does not apply: ClassifySingle has no deployment (classify --deployment-id streams to one)\n',
    );
  });

  it('an error message that spans lines is printed on one line', () => {
    expect(oneLine("needs ioredis (Cannot find module 'ioredis'\nRequire stack:\n- /a/b.js\n- /a/c.js)")).toBe(
      "needs ioredis (Cannot find module 'ioredis' | Require stack: | - /a/b.js | - /a/c.js)",
    );
    expect(oneLine('bell \x07 here')).toBe('bell \\x07 here');
  });

  it('installed under node_modules, the samples are still named samples/<file>', () => {
    const dir = join(tmpdir(), 'project', 'node_modules', 'athena-rx', 'samples');
    const shown = withSampleNames([{ path: join(dir, 'duck-pond.png'), display: 'node_modules/athena-rx/samples/duck-pond.png' }], dir);
    expect(shown.map((f) => f.display)).toEqual(['samples/duck-pond.png']);
  });

  describe('the demo (classify --samples, table)', () => {
    let tmp: string;
    beforeAll(() => {
      tmp = mkdtempSync(join(tmpdir(), 'athena-basics-'));
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('shows PCSAM in a column of its own, equal to the label, and does not report its own LICENSE.md as skipped', async () => {
      const table = fakeIo({ cwd: tmp });
      expect(await main(['classify', '--samples'], table)).toBe(EXIT.ok);
      const [header, ...rows] = table.out().trimEnd().split('\n');
      expect(header).toMatch(/^FILE +RESULT {2}PCSAM {3}TOP 3 LABELS$/);
      expect(rows).toHaveLength(8);
      expect(table.err()).not.toMatch(/LICENSE|skipped/i);

      const jsonl = fakeIo({ cwd: tmp });
      expect(await main(['classify', '--samples', '--format', 'jsonl'], jsonl)).toBe(EXIT.ok);
      const pcsam = new Map<string, number>();
      for (const line of jsonl.out().trim().split('\n')) {
        const r = JSON.parse(line) as { file: string; labels: Record<string, number> };
        pcsam.set(r.file, r.labels['UnknownCSAM-PCSAM']!);
      }
      for (const row of rows) {
        const [file, result, value] = row.split(/ {2,}/);
        expect(result).toBe('ok');
        expect(Number(value)).toBeCloseTo(pcsam.get(file!)!, 4);
        // Named as in the docs, whatever the working directory.
        expect(file).toMatch(/^samples\//);
      }
    }, 120_000);
  });
});
