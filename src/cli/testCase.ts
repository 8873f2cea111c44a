import { readFileSync } from 'node:fs';
import type { ClassificationResult } from '../index';
import { UsageError } from './io';
import { messageOf } from './errors';

/**
 * A shared test case (contract section 7): `expected_outputs.json` holds the labels once and,
 * per image, one weight per label in the same order.
 */
export interface ExpectedOutputs {
  readonly classification_labels: string[];
  readonly images: Array<[string, number[]]>;
}

export const EXPECTED_FILE = 'expected_outputs.json';

/** Reads and checks `expected_outputs.json`; a malformed file is a usage error saying where. */
export function readExpected(path: string): ExpectedOutputs {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path} (${messageOf(err)}); record one with --record`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${messageOf(err)}`);
  }
  const shape = `expected {"classification_labels": [label, ...], "images": [[file, [weight per label, ...]], ...]}`;
  if (!data || typeof data !== 'object') throw new UsageError(`${path}: ${shape}`);
  const { classification_labels: labels, images } = data as Record<string, unknown>;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
    throw new UsageError(`${path}: "classification_labels" must be a list of strings; ${shape}`);
  if (!Array.isArray(images)) throw new UsageError(`${path}: "images" must be a list; ${shape}`);
  images.forEach((entry: unknown, i) => {
    const ok =
      Array.isArray(entry) &&
      entry.length === 2 &&
      typeof entry[0] === 'string' &&
      Array.isArray(entry[1]) &&
      (entry[1] as unknown[]).every((w) => typeof w === 'number' && Number.isFinite(w));
    if (!ok) throw new UsageError(`${path}: images[${i}] must be [file, [numbers...]]`);
    const weights = (entry as [string, number[]])[1];
    if (weights.length !== labels.length) {
      throw new UsageError(`${path}: images[${i}] (${(entry as [string])[0]}) has ${weights.length} weights for ${labels.length} labels`);
    }
  });
  return { classification_labels: labels as string[], images: images as Array<[string, number[]]> };
}

/** One check that did not pass. */
export type Mismatch =
  | {
      readonly kind: 'weight';
      readonly file: string;
      readonly label: string;
      readonly expected: number;
      readonly actual: number;
      readonly diff: number;
    }
  | { readonly kind: 'failed'; readonly file: string; readonly code: string; readonly message: string }
  | { readonly kind: 'missing'; readonly file: string };

/**
 * Compares one image's result with its expected weights: a label the service did not return
 * counts as 0.0 (the contract lets it elide labels); a label it returned but the test case does
 * not list is not checked.
 */
export function compareImage(
  file: string,
  labels: readonly string[],
  expected: readonly number[],
  result: ClassificationResult | undefined,
  tolerance: number,
): Mismatch[] {
  if (!result) return [{ kind: 'missing', file }];
  if (result.kind === 'failure') return [{ kind: 'failed', file, code: result.code, message: result.message }];
  const out: Mismatch[] = [];
  labels.forEach((label, i) => {
    const want = expected[i] as number;
    const got = result.classifications[label] ?? 0;
    const diff = Math.abs(got - want);
    // `!(diff <= tolerance)` also catches NaN.
    if (!(diff <= tolerance)) out.push({ kind: 'weight', file, label, expected: want, actual: got, diff });
  });
  return out;
}

const num = (v: number): string => String(Number(v.toPrecision(8)));

/** One line of the report per mismatch. */
export function renderMismatch(m: Mismatch): string {
  switch (m.kind) {
    case 'weight':
      return `FAIL  ${m.file}  ${m.label}  expected ${num(m.expected)}  actual ${num(m.actual)}  diff ${m.diff.toExponential(2)}`;
    case 'failed':
      return `FAIL  ${m.file}  not classified: ${m.code}: ${m.message}`;
    case 'missing':
      return `FAIL  ${m.file}  no result (the file is missing or the run stopped early)`;
  }
}

/**
 * Builds `expected_outputs.json` from results, files in the given order. Labels are every label
 * returned, in order of first appearance; an image that lacks one records 0.0 for it, which is
 * how the runner treats a missing label anyway.
 */
export function recordExpected(
  entries: ReadonlyArray<{ file: string; classifications: Readonly<Record<string, number>>; order: readonly string[] }>,
): ExpectedOutputs {
  const labels: string[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    for (const l of e.order) {
      if (!seen.has(l)) {
        seen.add(l);
        labels.push(l);
      }
    }
  }
  return {
    classification_labels: labels,
    images: entries.map((e) => [e.file, labels.map((l) => e.classifications[l] ?? 0)]),
  };
}
