import { constants, realpathSync } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { from, mergeMap } from 'rxjs';
import {
  DEFAULT_MAX_SOURCE_BYTES,
  InvalidOptionError,
  PreprocessError,
  prepareImage,
  type ClassifyImagesOptions,
  type ImageInput,
} from '../index';
import type { JobRef } from './outcomes';
import { readFileSource } from '../preprocess/sources';

/**
 * Reads a job's file only if the file itself, symlinks resolved, lies inside `root`. The check is
 * made on the file as opened (the path the descriptor points at, `/proc/self/fd/N` on Linux), so
 * a symlink swapped in between a check and the read cannot lead outside. Any refusal, a missing
 * file or an unreadable one reads alike, so that a job's author learns nothing about files
 * outside the root, not even whether they exist.
 */
export interface ConfinedReader {
  /** The root, symlinks resolved. */
  readonly root: string;
  /** The file's bytes (`label` is the path as the job gave it, for messages). */
  read(path: string, maxBytes: number, label: string): Promise<Buffer>;
}

/** A {@link ConfinedReader} for `root`; throws `InvalidOptionError` when `root` is not a folder that exists. */
export function confinedReader(root: string): ConfinedReader {
  let real: string;
  try {
    real = realpathSync(root);
  } catch (err) {
    throw new InvalidOptionError(`redisWorker: root ${root} cannot be resolved (${(err as Error).message})`);
  }
  return {
    root: real,
    async read(path, maxBytes, label) {
      const refused = (): PreprocessError =>
        new PreprocessError('SOURCE_UNREADABLE', `${label} cannot be read inside the worker's root`, 'ECONFINED');
      let handle;
      try {
        // O_NONBLOCK: a FIFO planted in the root does not hang the open.
        handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch {
        throw refused();
      }
      try {
        const opened = await openedPath(handle.fd, path);
        if (opened === undefined || !inside(real, opened)) throw refused();
        // Read through the descriptor's own path: the very file that was checked.
        const through = process.platform === 'linux' ? `/proc/self/fd/${handle.fd}` : opened;
        return await readFileSource(through, maxBytes, label);
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
  };
}

/** Where an open descriptor's file is, symlinks resolved: from `/proc` on Linux, else `realpath` of the path. */
async function openedPath(fd: number, path: string): Promise<string | undefined> {
  try {
    if (process.platform === 'linux') return await readlink(`/proc/self/fd/${fd}`);
    return await realpath(path);
  } catch {
    return undefined;
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

/**
 * The pipeline's `prepare`, with the file read through `reader` (confined to the root) first:
 * the image is prepared from the bytes of the very file that was checked.
 */
export function confinedPrepare(
  reader: ConfinedReader,
  options: ClassifyImagesOptions<JobRef>['preprocess'],
): NonNullable<NonNullable<ClassifyImagesOptions<JobRef>['preprocess']>['prepare']> {
  const base = options?.prepare ?? ((input: ImageInput<JobRef>) => prepareImage<JobRef>(input, options));
  return (input) => {
    const job = input as ImageInput<JobRef>;
    if (typeof job.source !== 'string') return base(job);
    const path = job.source;
    return from(reader.read(path, options?.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES, `'${path}'`)).pipe(
      mergeMap((bytes) => from(base({ ...job, source: bytes }))),
    );
  };
}
