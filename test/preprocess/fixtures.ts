import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The preprocessing corpus, copied into the repo (CI has no /work/shared).
 * `ATHENA_PREPROCESS_FIXTURES` points the tests at another copy of it.
 */
export const FIXTURE_DIR = process.env.ATHENA_PREPROCESS_FIXTURES ?? join(__dirname, '..', 'fixtures', 'preprocess');

export interface FixtureCase {
  readonly file: string;
  readonly kind: string;
  readonly decoded: [number, number] | null;
  readonly md5_bgr: string | null;
  readonly md5_original: string;
  readonly sha1_original: string;
  readonly expected: string | null;
}

export function fixtureCases(): FixtureCase[] {
  return (JSON.parse(readFileSync(join(FIXTURE_DIR, 'expected.json'), 'utf8')) as { cases: FixtureCase[] }).cases;
}

export const fixturePath = (file: string): string => join(FIXTURE_DIR, file);
export const image = (name: string): string => join(FIXTURE_DIR, 'images', name);
