// @ts-check
/**
 * A watched folder: every image file already in DIR, and every one that appears there later, is
 * classified over one long-lived `Classify` stream, and its result printed as a JSON line.
 *
 *   node examples/watch-folder.mjs DIR [--max N] [--settle MS]
 *
 * --max N     stop watching after N files, wait for their results, exit (default: run until Ctrl-C)
 * --settle MS a file is taken once no change was seen on it for MS ms (default 200)
 *
 * Ctrl-C stops watching; images already taken still get their results before it exits.
 * Writers should write to a temporary name and rename into DIR (an atomic move); `--settle`
 * covers writers that do not, as long as they do not pause for longer than it mid-file.
 */
import { watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { debounceTime, defer, filter, from, groupBy, map, merge, mergeMap, Observable, Subject, take, takeUntil } from 'rxjs';
import { classifyImages } from 'athena-rx';
import { connect, isMain, summarize } from './connect.mjs';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp', '.tif', '.tiff', '.pbm', '.pgm', '.ppm', '.pnm']);

/**
 * The image files of `dir`: those there at subscription, then each new or changed one once it has
 * settled. A file is emitted again only when its size or modification time changed.
 *
 * @param {string} dir
 * @param {{ settleMs?: number }} [options]
 * @returns {Observable<string>} paths of files to classify
 */
export function imageFiles(dir, { settleMs = 200 } = {}) {
  /** @type {Observable<string>} names that changed, many times per file while it is written */
  const changes = new Observable((subscriber) => {
    const watcher = watch(dir, (_event, name) => {
      if (name) subscriber.next(name.toString());
    });
    watcher.on('error', (err) => subscriber.error(err));
    return () => watcher.close();
  });
  const settled = changes.pipe(
    // One group per file name; each group emits the name once it has been quiet for settleMs,
    // then closes, so that groups of files done with do not accumulate.
    groupBy((name) => name, { duration: (group) => group.pipe(debounceTime(settleMs)) }),
    mergeMap((group) => group.pipe(debounceTime(settleMs))),
  );
  // Watch first, then list: a file created in between is seen by both and classified once.
  const existing = defer(() => readdir(dir)).pipe(mergeMap((names) => from(names)));
  /** @type {Map<string, string>} name -> size and mtime when it was last taken */
  const taken = new Map();
  return merge(settled, existing).pipe(
    filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase())),
    mergeMap(async (name) => {
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined); // deleted or renamed away meanwhile
      if (!info?.isFile()) return [];
      const version = `${info.size}:${info.mtimeMs}`;
      if (taken.get(name) === version) return []; // an event without a change (chmod, a second listing)
      taken.set(name, version);
      return [path];
    }, 4),
    mergeMap((paths) => paths),
  );
}

/**
 * @param {{ dir: string, max?: number, settleMs?: number, env?: NodeJS.ProcessEnv, out?: NodeJS.WritableStream }} options
 * @returns {Promise<number>} how many results were printed
 */
export async function main({ dir, max = Infinity, settleMs = 200, env = process.env, out = process.stdout }) {
  const { client, close } = await connect(env);
  const stop = new Subject();
  const onSignal = () => stop.next(undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let printed = 0;
  try {
    const files = imageFiles(dir, { settleMs }).pipe(takeUntil(stop), take(max));
    process.stderr.write(`watching ${dir} for images${Number.isFinite(max) ? ` (stopping after ${max})` : ''}; Ctrl-C to stop\n`);
    // Completing the source (Ctrl-C or --max) lets the pipeline finish the images it holds and
    // half-close the stream; unsubscribing instead would cancel them.
    await new Promise((resolve, reject) => {
      files
        .pipe(
          map((path) => ({ source: path, ref: relative(dir, path) })),
          classifyImages(client, { preprocess: { encoding: 'brotli' } }),
        )
        .subscribe({
          next: (event) => {
            if (event.kind === 'foreign') return; // only in a shared deployment: another member's image
            out.write(`${JSON.stringify(summarize(event))}\n`);
            printed += 1;
          },
          error: reject,
          complete: () => resolve(undefined),
        });
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await close();
  }
  return printed;
}

if (isMain(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { max: { type: 'string' }, settle: { type: 'string' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: node examples/watch-folder.mjs DIR [--max N] [--settle MS]\n');
    process.exit(2);
  }
  main({
    dir: positionals[0],
    max: values.max === undefined ? Infinity : Number(values.max),
    settleMs: values.settle === undefined ? 200 : Number(values.settle),
  }).then(
    () => undefined,
    (err) => {
      process.stderr.write(`watch-folder: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
