import { terminalSafe } from './terminal';
import { formatDuration, rate } from './progress';

/** Byte counts of one prepared image, as the preprocess step reports them. */
export interface ImageBytes {
  /** The file as read. */
  readonly original: number;
  /** The pixels before compression (448x448 BGR, or a pass-through image's own size). */
  readonly prepared: number;
  /** What went on the wire. */
  readonly wire: number;
}

/** Counts of a run, accumulated result by result. */
export class RunStats {
  succeeded = 0;
  failed = 0;
  readonly byCode = new Map<string, number>();
  /** The first failure of each code, as an example of what went wrong. */
  readonly examples = new Map<string, string>();
  /** Totals over the images that were prepared (failed decodes have no sizes). */
  readonly bytes = { images: 0, original: 0, prepared: 0, wire: 0 };

  get done(): number {
    return this.succeeded + this.failed;
  }

  addSuccess(): void {
    this.succeeded++;
  }

  /** `example` (a file and a message) is kept for the first failure of each code. */
  addFailure(code: string, example?: string): void {
    this.failed++;
    if (example !== undefined && !this.examples.has(code)) this.examples.set(code, example);
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }

  addBytes(sizes: ImageBytes): void {
    this.bytes.images++;
    this.bytes.original += sizes.original;
    this.bytes.prepared += sizes.prepared;
    this.bytes.wire += sizes.wire;
  }
}

/** `1.2 MB` style, in powers of 1000 as storage and network sizes usually are. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/**
 * The end-of-run summary for stderr, e.g.
 *
 * ```
 * 9 images in 0:01 (7.6 images/s): 8 succeeded, 1 failed
 * failed by code:
 *   UNSUPPORTED_FORMAT      1  e.g. test/fixtures/not-an-image.jpg: not an image format ...
 * bytes: 159 kB read, 4.8 MB of pixels prepared, 3.1 MB sent (65% of the pixels; Brotli)
 * ```
 */
export function renderSummary(stats: RunStats, elapsedMs: number): string {
  const r = rate(stats.done, elapsedMs);
  const lines = [
    `${stats.done} ${stats.done === 1 ? 'image' : 'images'} in ${formatDuration(elapsedMs)} ` +
      `(${r === undefined ? '-' : r.toFixed(1)} images/s): ${stats.succeeded} succeeded, ${stats.failed} failed`,
  ];
  if (stats.byCode.size > 0) {
    const codes = [...stats.byCode.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    lines.push('failed by code:');
    const w = Math.max(...codes.map(([c]) => c.length));
    for (const [c, n] of codes) {
      const example = stats.examples.get(c);
      // The example holds a file name and a message: escaped, so neither can act on the terminal.
      lines.push(`  ${c.padEnd(w)}  ${String(n).padStart(5)}${example ? `  e.g. ${terminalSafe(example)}` : ''}`);
    }
  }
  const b = stats.bytes;
  if (b.images > 0) {
    const ratio = b.prepared > 0 ? Math.round((b.wire / b.prepared) * 100) : 100;
    lines.push(
      `bytes: ${formatBytes(b.original)} read, ${formatBytes(b.prepared)} of pixels prepared, ` +
        `${formatBytes(b.wire)} sent (${ratio}% of the pixels${b.wire < b.prepared ? '; Brotli' : '; uncompressed'})`,
    );
  }
  return lines.join('\n');
}

/**
 * The files a folder walk left out because their names are not images' (`.heic`, `.avif`,
 * `.txt`...), counted by extension; `verbose` lists each one. For example:
 *
 * ```
 * skipped 3 files that are not images by name: .heic 2, .txt 1 (--verbose lists them)
 * ```
 */
export function renderSkipped(skipped: ReadonlyArray<{ readonly display: string; readonly kind: string }>, verbose: boolean): string {
  const byKind = new Map<string, number>();
  for (const s of skipped) {
    const kind = terminalSafe(s.kind || '(no extension)');
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  const kinds = [...byKind.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k} ${n}`);
  const head =
    `skipped ${skipped.length} ${skipped.length === 1 ? 'file that is' : 'files that are'} not ${skipped.length === 1 ? 'an image' : 'images'} by name: ` +
    `${kinds.join(', ')}${verbose ? '' : ' (--verbose lists them)'}`;
  return verbose ? [head, ...skipped.map((s) => `  ${terminalSafe(s.display)}`)].join('\n') : head;
}
