// @ts-check
/**
 * What this is for: a pattern for an in-process queue, showing how back-pressure reaches
 * producers inside one process. It is not a queue to run: nothing in it survives a crash or
 * spans machines. For a durable queue shared by workers on many machines, see
 * redis-worker.mjs and docs/scaling-out.md.
 *
 * A work queue feeding the pipeline: several asynchronous producers put jobs into a bounded
 * in-memory queue, and one consumer classifies them with `classifyIterable`, which pulls from
 * the queue only while fewer than `window` images are between the queue and the results. When
 * the service is slower than the producers, the queue fills and `push` makes the producers wait:
 * back-pressure from the socket all the way to the producers, with nothing piling up anywhere.
 *
 *   node examples/work-queue.mjs [--producers 3] [--jobs 20] [--capacity 8] [--window 16] [--dir samples]
 *
 * Each producer submits `--jobs` jobs (the images of `--dir`, round robin). One JSON line per
 * result on stdout, then a summary line `{"summary": {...}}`.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { classifyIterable } from 'athena-rx';
import { connect, isMain, summarize } from './connect.mjs';

/**
 * A bounded FIFO queue for async producers and one async consumer: `push` waits while the queue
 * is full; iterating waits while it is empty and ends after `close()` once it is drained.
 *
 * @template T
 */
export class AsyncQueue {
  /** @param {number} capacity */
  constructor(capacity) {
    this.capacity = capacity;
    /** @type {T[]} */
    this.items = [];
    /** The most items ever held at once. */
    this.highWater = 0;
    this.closed = false;
    /** @type {(() => void)[]} producers waiting for room */
    this.waitingForRoom = [];
    /** @type {(() => void) | undefined} the consumer waiting for an item */
    this.waitingForItem = undefined;
  }

  /** @param {T} item */
  async push(item) {
    while (this.items.length >= this.capacity) await new Promise((resolve) => this.waitingForRoom.push(() => resolve(undefined)));
    if (this.closed) throw new Error('push after close');
    this.items.push(item);
    this.highWater = Math.max(this.highWater, this.items.length);
    this.waitingForItem?.();
  }

  /** No more pushes: the consumer ends once it has taken what is left. */
  close() {
    this.closed = true;
    this.waitingForItem?.();
  }

  /** @returns {AsyncGenerator<T, void, undefined>} */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        this.waitingForRoom.shift()?.();
        yield item;
      } else if (this.closed) return;
      else {
        await new Promise((resolve) => (this.waitingForItem = () => resolve(undefined)));
        this.waitingForItem = undefined;
      }
    }
  }
}

const SAMPLES = fileURLToPath(new URL('../samples', import.meta.url));

/**
 * @param {{ producers?: number, jobs?: number, capacity?: number, window?: number, dir?: string,
 *   env?: NodeJS.ProcessEnv, out?: NodeJS.WritableStream }} [options]
 */
export async function main({
  producers = 3,
  jobs = 20,
  capacity = 8,
  window = 16,
  dir = SAMPLES,
  env = process.env,
  out = process.stdout,
} = {}) {
  const files = (await readdir(dir)).filter((name) => !name.startsWith('.') && !name.endsWith('.md')).sort();
  if (files.length === 0) throw new Error(`no files in ${dir}`);
  const { client, close } = await connect(env);

  /** @type {AsyncQueue<import('athena-rx').ImageInput<string>>} */
  const queue = new AsyncQueue(capacity);
  // Producers: each submits its jobs at its own pace; `push` waits while the queue is full.
  const producing = Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let j = 0; j < jobs; j++) {
        const file = files[(p * jobs + j) % files.length];
        await queue.push({ source: join(dir, file), ref: `producer${p}/job${j}/${file}` });
        await sleep(Math.random() * 5);
      }
    }),
  ).finally(() => queue.close());

  const counts = { success: 0, failure: 0 };
  try {
    // The consumer: classifyIterable takes a job from the queue only while fewer than `window`
    // images are out (being prepared, sent or not yet handed to this loop).
    for await (const event of classifyIterable(client, queue, { window, preprocess: { encoding: 'brotli' } })) {
      if (event.kind === 'foreign') continue; // only in a shared deployment
      counts[event.kind] += 1;
      out.write(`${JSON.stringify(summarize(event))}\n`);
    }
    await producing;
  } finally {
    await close();
  }
  const summary = { results: counts.success + counts.failure, ...counts, capacity, queueHighWater: queue.highWater, window };
  out.write(`${JSON.stringify({ summary })}\n`);
  return summary;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      producers: { type: 'string' },
      jobs: { type: 'string' },
      capacity: { type: 'string' },
      window: { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const int = (/** @type {string | undefined} */ v, /** @type {number} */ fallback) => (v === undefined ? fallback : Number(v));
  main({
    producers: int(values.producers, 3),
    jobs: int(values.jobs, 20),
    capacity: int(values.capacity, 8),
    window: int(values.window, 16),
    dir: values.dir === undefined ? SAMPLES : resolve(values.dir),
  }).then(
    () => undefined,
    (err) => {
      process.stderr.write(`work-queue: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
