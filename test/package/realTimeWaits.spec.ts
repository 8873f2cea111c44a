import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '../..');

/**
 * The spots in `source` where a test asserts after a fixed real-time wait: an `await` of a sleep
 * (`sleep(ms)`, `delay(ms)`, a Promise around `setTimeout`, a race with one of those) that stands
 * on its own, not in a loop that polls for a condition, and is followed in the same block by an
 * `expect`. On a loaded machine the wait is too short, and what the `expect` checks for absence
 * was merely late; on an idle one it is long for nothing. Wait on a signal, on virtual time, or
 * poll for a condition within a stated bound instead.
 *
 * A wait that is the point of the test (an outage that must last its length in real time) is
 * let through when a comment just above it starts with `real-time wait:` and says why; what
 * follows it must still wait on a signal.
 */
export function expectAfterSleep(fileName: string, source: string): string[] {
  // A wait is found by this pattern in its own text, so a file without it has none: most test
  // files, which then cost no parse (parsing every file was most of this suite's time).
  const WAIT = /\b(setTimeout|sleep|delay)\s*\(/;
  if (!WAIT.test(source)) return [];
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const isWait = (node: ts.Node): boolean => WAIT.test(node.getText(file));
  const inLoop = (node: ts.Node): boolean => {
    for (let up = node.parent; up && !ts.isFunctionLike(up); up = up.parent) if (ts.isIterationStatement(up, false)) return true;
    return false;
  };
  const visit = (node: ts.Node): void => {
    if (ts.isBlock(node) || ts.isSourceFile(node)) {
      const statements = node.statements;
      statements.forEach((statement, i) => {
        const waits = ts.isExpressionStatement(statement) && ts.isAwaitExpression(statement.expression) && isWait(statement.expression);
        if (!waits || inLoop(statement)) return;
        const comments = ts.getLeadingCommentRanges(source, statement.getFullStart()) ?? [];
        if (comments.some((c) => /^\/\/\s*real-time wait:/.test(source.slice(c.pos, c.end)))) return;
        if (!statements.slice(i + 1).some((later) => /\bexpect\s*\(/.test(later.getText(file)))) return;
        const { line } = file.getLineAndCharacterOfPosition(statement.getStart(file));
        found.push(`${fileName}:${line + 1}: ${statement.getText(file)}`);
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('no test asserts after a fixed real-time wait', () => {
  it('finds the pattern, and lets polling loops, outages and bounded races be (the finder works)', () => {
    const flagged = `
      it('x', async () => {
        await new Promise((r) => setTimeout(r, 50));
        expect(seen).toHaveLength(2);
      });
      it('y', async () => {
        await sleep(500);
        const after = count();
        expect(after).toBe(1);
      });`;
    expect(expectAfterSleep('flagged.ts', flagged)).toEqual([
      'flagged.ts:3: await new Promise((r) => setTimeout(r, 50));',
      'flagged.ts:7: await sleep(500);',
    ]);
    const fine = `
      it('polls', async () => {
        while (!done()) await new Promise((r) => setTimeout(r, 20));
        for (;;) {
          if (ready()) break;
          await sleep(5);
        }
        expect(done()).toBe(true);
      });
      async function outage() {
        await server.stop();
        await sleep(3000);
        await server.start();
      }
      it('signals', async () => {
        await new Promise((r) => stream.once('end', r));
        expect(count).toBe(3);
      });
      it('an outage that must last its length', async () => {
        // real-time wait: the outage is the point; what follows waits on a signal.
        await sleep(20000);
        await until(() => written() === 120);
        expect(written()).toBe(120);
      });`;
    expect(expectAfterSleep('fine.ts', fine)).toEqual([]);
  });

  it('in test/', () => {
    const found = testFiles(path.join(root, 'test')).flatMap((f) => expectAfterSleep(path.relative(root, f), fs.readFileSync(f, 'utf8')));
    expect(found).toEqual([]);
  });
});
