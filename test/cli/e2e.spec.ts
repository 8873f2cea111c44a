import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { compareImage, recordExpected } from '../../src/cli/testCase';
import { fakeIo } from './fakeIo';

const root = join(__dirname, '../..');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-e2e-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('athena-rx e2e', () => {
  it('records a case from samples/, passes on it, and fails naming the label when one weight changes', async () => {
    const rec = fakeIo({ cwd: tmp });
    const from = join(tmp, 'from');
    cpSync(join(root, 'samples'), from, { recursive: true });
    copyFileSync(join(root, 'test/fixtures/not-an-image.jpg'), join(from, 'not-an-image.jpg'));
    expect(await main(['e2e', 'case', '--record', '--from', from], rec)).toBe(0);
    // An undecodable image is not made part of the test case, and the user is told.
    expect(rec.err()).toMatch(/not recorded: not-an-image\.jpg \([A-Z_]+: /);
    expect(existsSync(join(tmp, 'case/images/not-an-image.jpg'))).toBe(false);
    const file = join(tmp, 'case/expected_outputs.json');
    const expected = JSON.parse(readFileSync(file, 'utf8'));
    expect(expected.images).toHaveLength(8);
    expect(expected.classification_labels).toEqual(expect.arrayContaining(['UnknownCSAM-Ducks', 'UnknownCSAM-PCSAM']));
    for (const [name, weights] of expected.images) {
      expect(existsSync(join(tmp, 'case/images', name))).toBe(true);
      expect(weights).toHaveLength(expected.classification_labels.length);
    }

    const pass = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'case'], pass)).toBe(0);
    expect(pass.out()).toBe(`e2e case: 8 images, ${8 * expected.classification_labels.length} weights checked, tolerance 0.0001: PASS\n`);

    // Move one weight by 0.001: over 1e-4, within 1e-2.
    const label = expected.classification_labels.indexOf('UnknownCSAM-Trees');
    const [name, weights] = expected.images[2];
    const was = weights[label];
    weights[label] = was + 0.001;
    writeFileSync(file, JSON.stringify(expected));
    const fail = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'case'], fail)).toBe(1);
    const lines = fail.out().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      `FAIL  ${name}  UnknownCSAM-Trees  expected ${Number((was + 0.001).toPrecision(8))}  actual ${Number(was.toPrecision(8))}  diff 1.00e-3`,
    );
    expect(lines[1]).toMatch(/: FAIL \(1 problem in 1 of 8 images\)$/);

    const tolerant = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'case', '--tolerance', '1e-2'], tolerant)).toBe(0);

    // Recording over an existing case needs --force.
    const again = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'case', '--record'], again)).toBe(2);
    expect(again.err()).toMatch(/exists: add --force/);
    const forced = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'case', '--record', '--force'], forced)).toBe(0);
    expect(await main(['e2e', 'case'], fakeIo({ cwd: tmp }))).toBe(0);
  }, 120_000);

  it('reports an image listed but absent, and one that cannot be classified', async () => {
    const dir = join(tmp, 'broken');
    mkdirSync(join(dir, 'images'), { recursive: true });
    copyFileSync(join(root, 'test/fixtures/not-an-image.jpg'), join(dir, 'images/bad.jpg'));
    writeFileSync(
      join(dir, 'expected_outputs.json'),
      JSON.stringify({
        classification_labels: ['UnknownCSAM-Ducks'],
        images: [
          ['gone.png', [0.5]],
          ['bad.jpg', [0.5]],
        ],
      }),
    );
    const io = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'broken'], io)).toBe(1);
    expect(io.out()).toMatch(/^FAIL  gone\.png  no result/m);
    expect(io.out()).toMatch(/^FAIL  bad\.jpg  not classified: [A-Z_]+: /m);
  });

  it('exits 2 on a malformed test case, saying what is wrong', async () => {
    const dir = join(tmp, 'malformed');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'expected_outputs.json'), JSON.stringify({ classification_labels: ['a', 'b'], images: [['x.png', [0.1]]] }));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'malformed'], io)).toBe(2);
    expect(io.err()).toMatch(/images\[0\] \(x\.png\) has 1 weights for 2 labels/);
    const missing = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'nowhere'], missing)).toBe(2);
    expect(missing.err()).toMatch(/cannot read .*expected_outputs\.json.*record one with --record/);
    const usage = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'malformed', '--tolerance=-1'], usage)).toBe(2);
    expect(usage.err()).toMatch(/--tolerance must be a non-negative number/);
    // A value that looks like an option must be attached with '=': parseArgs says how.
    const dash = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'malformed', '--tolerance', '-1'], dash)).toBe(2);
    expect(dash.err()).toMatch(/^athena-rx e2e: Option '--tolerance' argument is ambiguous\..*'--tolerance=-XYZ'/);
  });
});

describe('test-case helpers', () => {
  const success = (classifications: Record<string, number>) =>
    ({ kind: 'success', correlationId: 'c', ref: undefined, attempts: 1, timings: { prepareMs: 0 }, classifications, raw: [] }) as const;

  it('a label the service elided counts as 0.0; labels not listed are not checked', () => {
    expect(compareImage('f', ['A', 'B'], [0.5, 0], success({ A: 0.50005, C: 9 }), 1e-4)).toEqual([]);
    expect(compareImage('f', ['A', 'B'], [0.5, 0.2], success({ A: 0.5 }), 1e-4)).toEqual([
      { kind: 'weight', file: 'f', label: 'B', expected: 0.2, actual: 0, diff: 0.2 },
    ]);
  });

  it('records labels in order of first appearance, 0.0 where an image lacks one', () => {
    expect(
      recordExpected([
        { file: 'a.png', classifications: { X: 1, Y: 2 }, order: ['X', 'Y'] },
        { file: 'b.png', classifications: { Z: 3, X: 4 }, order: ['Z', 'X'] },
      ]),
    ).toEqual({
      classification_labels: ['X', 'Y', 'Z'],
      images: [
        ['a.png', [1, 2, 0]],
        ['b.png', [4, 0, 3]],
      ],
    });
  });
});

describe('athena-rx e2e with hostile names (issue 12)', () => {
  it('a file name in the test case with escape sequences is printed escaped', async () => {
    const dir = join(tmp, 'hostile');
    mkdirSync(join(dir, 'images'), { recursive: true });
    copyFileSync(join(root, 'samples/duck-pond.png'), join(dir, 'images/duck.png'));
    const name = '\x1b]0;pwned\x07\x1b[2Jgone.png';
    writeFileSync(
      join(dir, 'expected_outputs.json'),
      JSON.stringify({
        classification_labels: ['UnknownCSAM-Ducks'],
        images: [
          ['duck.png', [0]],
          [name, [0]],
        ],
      }),
    );
    const io = fakeIo({ cwd: tmp });
    expect(await main(['e2e', 'hostile'], io)).toBe(1);
    expect(io.out()).toContain('FAIL  \\x1b]0;pwned\\x07\\x1b[2Jgone.png  no result');
    expect(io.out()).not.toContain('\x1b');
  });
});
