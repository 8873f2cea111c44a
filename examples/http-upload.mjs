// @ts-check
/**
 * An HTTP upload endpoint: POST an image as the request body to /classify and get its typed
 * result back as JSON. Every upload joins one shared pipeline (one `Classify` stream, batched
 * with the uploads of other requests), not a call of its own.
 *
 *   node examples/http-upload.mjs [--port 8080] [--host 127.0.0.1] [--max-pending 64]
 *   curl --data-binary @samples/seashore.jpg http://127.0.0.1:8080/classify
 *
 * Prints `listening on http://HOST:PORT` as the first line of stdout (with --port 0, the port
 * picked). Replies:
 *   200  success: { kind: 'success', classifications: { label: weight, ... }, ... }
 *   422  the image itself is the problem (not an image, cannot be decoded, too many pixels) or
 *        the service refused it for good: { kind: 'failure', code, message, ... }
 *   503  a failure that may pass on a later try (MODEL_ERROR after its retries, a timeout, the
 *        service unreachable), or more than --max-pending uploads waiting: try again later
 *   413  body larger than 20 MiB; 404/405 other paths and methods
 * SIGINT/SIGTERM: stop accepting, answer the uploads in progress, exit.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Subject } from 'rxjs';
import { classifyImages } from 'athena-rx';
import { connect, isMain, summarize } from './connect.mjs';

const MAX_BODY_BYTES = 20 * 1024 * 1024;

/**
 * The HTTP status for a result: 200, or why it failed.
 *
 * @param {import('athena-rx').ClassificationResult<unknown>} result
 */
export function statusOf(result) {
  if (result.kind === 'success') return 200;
  return result.retryable || result.stage === 'transport' ? 503 : 422;
}

/**
 * @typedef {object} UploadServer
 * @property {string} url
 * @property {() => Promise<void>} close stops accepting, answers what is in progress, closes the client
 */

/**
 * @param {{ port?: number, host?: string, maxPending?: number, env?: NodeJS.ProcessEnv }} [options]
 * @returns {Promise<UploadServer>}
 */
export async function main({ port = 8080, host = '127.0.0.1', maxPending = 64, env = process.env } = {}) {
  const connection = await connect(env);

  // Every upload carries its id as `ref` (required), so results are typed ClassificationResult<number>.
  /** @type {Subject<{ source: Buffer, ref: number }>} */
  const uploads = new Subject();
  /** @type {Map<number, (result: import('athena-rx').ClassificationResult<number> | Error) => void>} */
  const waiting = new Map();
  let nextId = 0;

  // One pipeline for the life of the server. The window (default 128) bounds the prepared images;
  // the bodies that wait for it are bounded here, by refusing uploads beyond `maxPending`.
  const finished = new Promise((resolve) => {
    uploads.pipe(classifyImages(connection.client, { preprocess: { encoding: 'brotli' } })).subscribe({
      next: (event) => {
        if (event.kind === 'foreign' || event.ref === undefined) return;
        waiting.get(event.ref)?.(event);
        waiting.delete(event.ref);
      },
      // Only a programming error gets here (per-image problems are results): fail what waits.
      error: (err) => {
        for (const reply of waiting.values()) reply(err instanceof Error ? err : new Error(String(err)));
        waiting.clear();
        resolve(undefined);
      },
      complete: () => resolve(undefined),
    });
  });

  const server = createServer((req, res) => {
    /** @param {number} status @param {unknown} body @param {Record<string, string>} [headers] */
    const send = (status, body, headers = {}) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.url !== '/classify') return send(404, { error: 'POST an image to /classify' });
    if (req.method !== 'POST') return send(405, { error: 'POST an image to /classify' }, { allow: 'POST' });
    if (waiting.size >= maxPending) return send(503, { error: 'busy, try again' }, { 'retry-after': '1' });
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      send(413, { error: `at most ${MAX_BODY_BYTES} bytes` }, { connection: 'close' });
      req.destroy();
      return;
    }

    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    req.on('data', (/** @type {Buffer} */ chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        send(413, { error: `at most ${MAX_BODY_BYTES} bytes` }, { connection: 'close' });
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      const id = nextId++;
      waiting.set(id, (result) => {
        if (result instanceof Error) send(500, { error: result.message });
        else send(statusOf(result), summarize(result));
      });
      // If the client hangs up meanwhile, the image is still classified and its reply dropped.
      uploads.next({ source: Buffer.concat(chunks, size), ref: id });
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(undefined));
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const url = `http://${host}:${address.port}`;

  let closing;
  const close = () =>
    (closing ??= (async () => {
      const stopped = new Promise((resolve) => server.close(() => resolve(undefined)));
      // Uploads still being received get their `end` before close; then the pipeline completes
      // once every image it holds has its result (it half-closes the stream).
      await stopped;
      uploads.complete();
      await finished;
      await connection.close();
    })());
  return { url, close };
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, host: { type: 'string' }, 'max-pending': { type: 'string' } },
  });
  main({
    port: values.port === undefined ? 8080 : Number(values.port),
    host: values.host,
    maxPending: values['max-pending'] === undefined ? 64 : Number(values['max-pending']),
  }).then(
    ({ url, close }) => {
      process.stdout.write(`listening on ${url}\n`);
      process.stderr.write(`POST an image: curl --data-binary @samples/seashore.jpg ${url}/classify\n`);
      const stop = () => {
        process.stderr.write('stopping: answering the uploads in progress\n');
        close().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`http-upload: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err) => {
      process.stderr.write(`http-upload: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
