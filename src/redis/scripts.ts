import { createHash } from 'node:crypto';
import type { RedisConnection } from './connection';

/**
 * Writes a job's result and acknowledges the job in one atomic step, and only if the job was
 * still pending: `XACK` first, then `XADD` to the results stream only when the `XACK` removed the
 * job from the group's pending list. A script rather than `MULTI XADD XACK`: both run without
 * anything in between, but `MULTI` cannot make the `XADD` depend on the `XACK`, so a worker that
 * was paused past the claim time (a long GC, a stopped VM) while another worker claimed and
 * finished its job would append a second result. With the condition, the first writer wins and
 * the other's result is dropped (`0`).
 *
 * With a dead-letter entry (ARGV after the result fields), the job's history (KEYS[3]) is
 * appended to it and the entry is added to KEYS[4] in the same step.
 *
 * When the job is no longer in Redis (the stream or its group is gone, or the entry itself: Redis
 * lost its data, or the stream was trimmed), nothing is written: `-1`. Only a job still in the
 * stream and acknowledged already was written first by another worker: `0`.
 *
 * KEYS: jobs stream, results stream, history key, dead-letter stream.
 * ARGV: group, job id, number of result fields, result fields..., dead-letter fields...
 */
export const COMMIT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local acked = redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
if type(acked) == 'table' and acked.err then return -1 end
if acked == 0 then
  if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then return -1 end
  return 0
end
local n = tonumber(ARGV[3])
local result = {}
for i = 1, n do result[i] = ARGV[3 + i] end
if #ARGV > 3 + n then
  local dead = {}
  for i = 4 + n, #ARGV do dead[#dead + 1] = ARGV[i] end
  dead[#dead + 1] = 'history'
  dead[#dead + 1] = redis.call('GET', KEYS[3]) or ''
  redis.call('XADD', KEYS[4], '*', unpack(dead))
end
redis.call('XADD', KEYS[2], '*', unpack(result))
redis.call('DEL', KEYS[3])
return 1
`;

/** What {@link commit} resolves with when the jobs stream or its group no longer exists. */
export const LOST = -1;

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

/**
 * Adds a job unless one with the same key was added before: the key's entry id is kept in a hash
 * beside the stream (KEYS[2], `<stream>:keys`), so that a re-run of the same enqueue adds only what
 * is missing. Returns `{id, 1}` when added, `{id, 0}` with the first entry's id when not.
 *
 * KEYS: jobs stream, keys hash. ARGV: key, the job's entry fields...
 */
export const ENQUEUE_SCRIPT = `
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then return {id, 0} end
id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('HSET', KEYS[2], ARGV[1], id)
return {id, 1}
`;

/**
 * Runs a script by its digest, loading it when the server does not know it (first use, or a
 * restarted server).
 */
export async function runScript(
  redis: RedisConnection,
  script: string,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await redis.call('EVALSHA', digest(script), keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.call('EVAL', script, keys.length, ...keys, ...args);
  }
}

const digests = new Map<string, string>();
function digest(script: string): string {
  let d = digests.get(script);
  if (d === undefined) digests.set(script, (d = sha1(script)));
  return d;
}

/**
 * Runs {@link COMMIT_SCRIPT}. Resolves 1 when this call wrote the result, 0 when the job had
 * already been acknowledged (another worker wrote its result first), {@link LOST} when the
 * stream or group is gone.
 */
export async function commit(
  redis: RedisConnection,
  keys: readonly [string, string, string, string],
  args: readonly string[],
): Promise<number> {
  return Number(await runScript(redis, COMMIT_SCRIPT, keys, args));
}
