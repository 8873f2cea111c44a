import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { EnqueueError, enqueueOnce, type EnqueuedJob, type KeyedJob } from '../../redis/index';
import { parseCommandArgs, stringFlag, withHelp } from '../args';
import { messageOf } from '../errors';
import { expandInputs } from '../files';
import { EXIT, UsageError, type Command } from '../io';
import { REDIS_HELP, REDIS_OPTIONS, openRedis, resolveRedis } from '../redis';

const HELP = `usage: athena-rx enqueue --stream NAME <files, folders or globs...> [options]

Adds one job per image file to a Redis stream, for the workers (athena-rx worker) to classify.
Files, folders and globs are taken as athena-rx classify takes them. Each job names the file by
its absolute path, so the workers must see the same files at the same paths (shared storage);
its fields carry the path as given ({"file": ...}) plus --fields, and come back on its result.

Each job has a key made of the file's path, size and modification time: a file enqueued before
(on the same stream, unchanged) is skipped, so a run that stopped part-way can be run again as it
is and adds only what is missing. The keys are kept in the hash <stream>:keys.

${REDIS_HELP}
  --fields JSON           a JSON object added to every job's fields (e.g. '{"batch": 7}')

Prints one line per file on stdout: the job's entry id, a tab, the file (also for a file skipped:
the id it was added under). Exit status: 0 every file added or already there, 1 Redis failed
(stderr says how many were added before it stopped; run the same command again), 2 bad usage.
`;

export const enqueue: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, { ...REDIS_OPTIONS, fields: { type: 'string' } });
  const { url, stream } = resolveRedis(flags, io.env);
  let extra: Record<string, unknown> = {};
  const rawFields = stringFlag(flags, 'fields');
  if (rawFields !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawFields);
    } catch (err) {
      throw new UsageError(`--fields must be a JSON object (${messageOf(err)})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError('--fields must be a JSON object, e.g. \'{"batch": 7}\'');
    extra = parsed as Record<string, unknown>;
  }
  const files = await expandInputs(positionals, io.cwd);
  const jobs = await Promise.all(
    files.map(async (f): Promise<KeyedJob> => ({
      key: await fileKey(f.path),
      job: { path: f.path, fields: { file: f.display, ...extra } },
    })),
  );

  const { redis, url: shown, close } = openRedis(url, io, 'athena-rx enqueue', { wait: false });
  const report = (done: readonly EnqueuedJob[]): { added: number; skipped: number } => {
    io.stdout.write(done.map((d) => `${d.id}\t${files[d.index].display}\n`).join(''));
    const added = done.filter((d) => d.added).length;
    return { added, skipped: done.length - added };
  };
  try {
    const { added, skipped } = report(await enqueueOnce(redis, stream, jobs));
    io.stderr.write(
      `enqueued ${added} ${added === 1 ? 'job' : 'jobs'} on ${stream} at ${shown}${skipped > 0 ? `; ${skipped} already enqueued, skipped` : ''}\n`,
    );
    return EXIT.ok;
  } catch (err) {
    const done = err instanceof EnqueueError ? err.done : [];
    const { added, skipped } = report(done);
    io.stderr.write(
      `athena-rx enqueue: redis ${shown}: ${messageOf(err)}; ${added} of ${jobs.length} jobs were added before it stopped` +
        `${skipped > 0 ? ` (${skipped} already there)` : ''}: run the same command again to add the rest\n`,
    );
    return EXIT.failed;
  } finally {
    close();
  }
});

/** A file's job key: its path, size and modification time, hashed (the same file unchanged, the same key). */
async function fileKey(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return createHash('sha1')
    .update(`${path}\0${s?.size ?? ''}\0${s?.mtimeMs ?? ''}`)
    .digest('hex');
}
