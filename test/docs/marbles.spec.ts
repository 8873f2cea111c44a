import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperatorFunction, SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { bufferBatch } from '../../src/operators/bufferBatch';

/**
 * The marble diagrams of the docs (docs/operators/*.md) and of the operators' doc comments
 * (src/operators/*.ts) are run as tests, as the code samples are compiled (scripts/check-samples.mjs): a diagram
 * whose middle line calls a time-based operator listed here is played on a TestScheduler and must
 * give the result line it draws. A diagram drawn one frame off fails here (issue 22).
 */
const root = path.resolve(__dirname, '../..');

/** The operators whose diagrams can be played on virtual time alone, built with the given scheduler. */
const RUNNABLE: Record<string, (options: Record<string, unknown>, scheduler: SchedulerLike) => OperatorFunction<unknown, unknown>> = {
  bufferBatch: (options, scheduler) => bufferBatch({ ...options, scheduler }),
};

interface Diagram {
  readonly where: string;
  readonly operator: string;
  readonly options: Record<string, unknown>;
  readonly source: string;
  readonly result: string;
  /** Result values named in the legend (`x = [a,b,c]`) as the source letters they hold. */
  readonly values: Record<string, string[]>;
}

/** ```text blocks of three lines `source: ...`, `operator({...})`, `result: ... legend`, in a markdown file or a doc comment. */
export function findDiagrams(text: string, file: string): Diagram[] {
  const lines = text.split('\n').map((l) => l.replace(/^\s*\*\s?/, ''));
  const found: Diagram[] = [];
  for (let i = 0; i + 3 < lines.length; i++) {
    if (lines[i]!.trim() !== '```text') continue;
    const [first, call, last] = [lines[i + 1]!, lines[i + 2]!.trim(), lines[i + 3]!];
    const source = /^\w+:\s+(\S+)/.exec(first)?.[1];
    const operator = /^(\w+)\((.*)\)$/.exec(call);
    const result = /^\w+:\s+(\S+)(.*)$/.exec(last);
    if (!source || !operator || !result || !(operator[1]! in RUNNABLE)) continue;
    // The options are an object literal of numbers and booleans, as drawn: read as JSON with quoted keys.
    const options = JSON.parse((operator[2] || '{}').replace(/(\w+):/g, '"$1":')) as Record<string, unknown>;
    const values: Record<string, string[]> = {};
    for (const m of result[2]!.matchAll(/(\w) = \[([\w,]*)\]/g)) values[m[1]!] = m[2] === '' ? [] : m[2]!.split(',');
    found.push({ where: `${path.relative(root, file)}:${i + 2}`, operator: operator[1]!, options, source, result: result[1]!, values });
  }
  return found;
}

const files = (dir: string, ext: string): string[] =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith(ext))
    .map((f) => path.join(root, dir, f));

const diagrams = [...files('docs/operators', '.md'), ...files('src/operators', '.ts')].flatMap((f) =>
  findDiagrams(fs.readFileSync(f, 'utf8'), f),
);

describe('marble diagrams in the docs and doc comments', () => {
  it('finds the diagrams to run (in the docs and in the doc comments)', () => {
    expect(diagrams.map((d) => d.where)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^docs\/operators\/bufferBatch\.md:/),
        expect.stringMatching(/^src\/operators\/bufferBatch\.ts:/),
      ]),
    );
  });

  it.each(diagrams.map((d) => [d.where, d] as const))('%s plays as drawn', (_where, d) => {
    const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold(d.source).pipe(RUNNABLE[d.operator]!(d.options, scheduler))).toBe(d.result, d.values);
    });
  });

  it('a diagram one frame off fails (the check can fail)', () => {
    const [d] = findDiagrams(
      '```text\nsource:  --a-b-c-d-------e----|\n         bufferBatch({ maxCount: 3, maxWait: 5 })\nresult:  ------x-------y------(z|)     x = [a,b,c]  y = [d]  z = [e]\n```',
      path.join(root, 'x.md'),
    );
    const scheduler = new TestScheduler((actual, expected) => expect(actual).not.toEqual(expected));
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold(d!.source).pipe(RUNNABLE[d!.operator]!(d!.options, scheduler))).toBe(d!.result, d!.values);
    });
  });
});
