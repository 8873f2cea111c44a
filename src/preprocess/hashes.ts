import { createHash } from 'node:crypto';
import type { HashType, ImageHash } from '../contract/messages';
import { InvalidOptionError } from '../core/invalidOptionError';

/** Hash algorithms the wire can carry as `ImageHash` (the contract's `HashType`). */
export type WireHashAlgorithm = 'md5' | 'sha1';

/**
 * Algorithms for hashes of the prepared pixels. These never go on the wire (the service matches
 * known hashes of original files, and `HashType` has no way to say "of the pixels"), so any
 * algorithm Node's `crypto` knows is allowed.
 */
export type PixelHashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

/** A hash of the 602,112 prepared pixels, kept beside the wire hashes and never sent. */
export interface PixelHash {
  readonly algorithm: PixelHashAlgorithm;
  /** Lower-case hex. */
  readonly value: string;
}

const WIRE_TYPES: Record<WireHashAlgorithm, HashType> = { md5: 'HASH_TYPE_MD5', sha1: 'HASH_TYPE_SHA1' };

/** The wire hashes of `bytes`, in the order asked, each algorithm once. */
export function wireHashes(bytes: Uint8Array, algorithms: readonly WireHashAlgorithm[]): ImageHash[] {
  return [...new Set(algorithms)].map((a) => {
    const type = WIRE_TYPES[a];
    if (!type) throw new InvalidOptionError(`unknown wire hash algorithm ${JSON.stringify(a)}: use 'md5' or 'sha1'`);
    return { type, value: createHash(a).update(bytes).digest('hex') };
  });
}

/** Hashes of prepared pixels, in the order asked, each algorithm once. */
export function pixelHashes(pixels: Uint8Array, algorithms: readonly PixelHashAlgorithm[]): PixelHash[] {
  return [...new Set(algorithms)].map((algorithm) => ({ algorithm, value: createHash(algorithm).update(pixels).digest('hex') }));
}
