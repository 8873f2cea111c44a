import { enqueueJobs, type ImageJob } from '../../redis/index';
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

${REDIS_HELP}
  --fields JSON           a JSON object added to every job's fields (e.g. '{"batch": 7}')

Prints one line per job on stdout: the job's entry id, a tab, the file. Exit status: 0 all
added, 1 Redis failed, 2 bad usage.
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
  const jobs = files.map((f): ImageJob => ({ path: f.path, fields: { file: f.display, ...extra } }));

  const { redis, url: shown, close } = openRedis(url, io, 'athena-rx enqueue', { wait: false });
  try {
    const ids = await enqueueJobs(redis, stream, jobs);
    io.stdout.write(ids.map((id, i) => `${id}\t${files[i].display}\n`).join(''));
    io.stderr.write(`enqueued ${ids.length} ${ids.length === 1 ? 'job' : 'jobs'} on ${stream} at ${shown}\n`);
    return EXIT.ok;
  } catch (err) {
    io.stderr.write(`athena-rx enqueue: redis ${shown}: ${messageOf(err)}\n`);
    return EXIT.failed;
  } finally {
    close();
  }
});
