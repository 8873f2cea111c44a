import { randomBytes } from 'node:crypto';
import type { XXHashAPI } from 'xxhash-wasm' with { 'resolution-mode': 'import' };
import { idProblem } from '../core/ids';
import { PreprocessError } from './errors';
import { InvalidOptionError } from '../core/invalidOptionError';

// xxhash-wasm's types are ES-module-only, but the package ships a CommonJS build too, which is
// what this CommonJS library loads (a dynamic import() would be rewritten to require() anyway).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const xxhash = require('xxhash-wasm') as () => Promise<XXHashAPI>;

let xxhashInstance: Promise<XXHashAPI> | undefined;

/**
 * The xxhash-wasm instance, compiled once per process: compiling the WebAssembly module is
 * asynchronous and costs far more than hashing, so every generator shares one.
 */
function loadXxhash(): Promise<XXHashAPI> {
  xxhashInstance ??= xxhash();
  return xxhashInstance;
}

/** Makes a correlation id for one image. May be asynchronous. */
export type CorrelationIdFactory = (content: Uint8Array) => string | Promise<string>;

/**
 * Default correlation ids: `<run>-<fingerprint>-<sequence>`, for example
 * `k3x9q2mz-9f86d081884c7d65-1a` (at most 8 + 1 + 16 + 1 + 11 = 37 characters).
 *
 * - `run`: 8 random base-36 characters chosen when the generator is made, so that two runs (two
 *   processes, or two generators) sending the same images to one deployment never collide:
 *   the service requires ids to be unique within a deployment, not just within a stream.
 * - `fingerprint`: the 64-bit xxHash (xxh64) of the content in hex, so an id says which bytes it
 *   stands for (useful in logs and audit records, which never hold the image).
 * - `sequence`: a counter in base 36, so the same image prepared twice gets two ids.
 *
 * @example
 * ```ts
 * const ids = new CorrelationIdGenerator();
 * await ids.next(bytes); // 'k3x9q2mz-9f86d081884c7d65-0'
 * await ids.next(bytes); // 'k3x9q2mz-9f86d081884c7d65-1'
 * ```
 */
export class CorrelationIdGenerator {
  /** The random prefix shared by every id of this generator. */
  readonly run: string;
  private sequence = 0;

  constructor(options: { run?: string } = {}) {
    this.run = options.run ?? randomRun();
    if (!/^[0-9A-Za-z_.:]{1,16}$/.test(this.run)) {
      throw new InvalidOptionError(`correlation id run prefix must be 1-16 characters of [0-9A-Za-z_.:], got ${JSON.stringify(this.run)}`);
    }
  }

  /** The id for `content`: unique within this generator, fingerprinted by content. */
  async next(content: Uint8Array): Promise<string> {
    const sequence = this.sequence++; // taken before awaiting, so ids follow call order
    const h = await loadXxhash();
    return `${this.run}-${h.h64Raw(content).toString(16).padStart(16, '0')}-${sequence.toString(36)}`;
  }

  /**
   * An id for an image whose content could not be read (a missing file, say): still unique, so a
   * failure can be told from every other result, but synchronous and without a fingerprint.
   */
  nextWithoutContent(): string {
    return `${this.run}-unread-${(this.sequence++).toString(36)}`;
  }
}

function randomRun(): string {
  // 8 base-36 characters from 6 random bytes: 36^8 = 2.8e12 runs before collisions get likely.
  return (randomBytes(6).readUIntBE(0, 6) % 36 ** 8).toString(36).padStart(8, '0');
}

let defaultGenerator: CorrelationIdGenerator | undefined;

/** The generator shared by every `prepareImage` call of this process that brings none of its own. */
export function defaultCorrelationIds(): CorrelationIdGenerator {
  defaultGenerator ??= new CorrelationIdGenerator();
  return defaultGenerator;
}

/**
 * Checks an id a caller supplies: a non-empty string of at most 64 characters, as the service
 * requires. Length counts UTF-16 code units, which is never fewer than code points, so an id
 * accepted here is short enough however the server counts.
 *
 * @throws PreprocessError `INVALID_CORRELATION_ID`
 *
 * @example
 * ```ts
 * validateCorrelationId('order-42/photo-1'); // returns 'order-42/photo-1'
 * validateCorrelationId('');                 // throws PreprocessError INVALID_CORRELATION_ID
 * ```
 */
export function validateCorrelationId(id: unknown): string {
  const problem = idProblem('correlation id', id);
  if (problem !== undefined) {
    const details = typeof id === 'string' && id.length > 0 ? `id starts ${JSON.stringify(id.slice(0, 16))}` : '';
    throw new PreprocessError('INVALID_CORRELATION_ID', problem, details);
  }
  return id as string;
}
