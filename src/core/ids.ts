import { MAX_ID_LENGTH } from '../contract/messages';

/**
 * What is wrong with an id that the contract limits to 1-64 characters (deployment, correlation,
 * affiliate), as a sentence that starts with `what`; `undefined` when it is fine. The one place
 * that knows the rule, so the client, the CLI and the testing server say it alike.
 */
export function idProblem(what: string, id: unknown): string | undefined {
  if (typeof id !== 'string') return `${what} must be a string, got ${typeof id}`;
  if (id.length === 0) return `${what} must not be empty`;
  if (id.length > MAX_ID_LENGTH) return `${what} is ${id.length} characters long; the service accepts at most ${MAX_ID_LENGTH}`;
  return undefined;
}

/** Whether `id` is a valid id (1-64 characters). */
export function isValidId(id: unknown): id is string {
  return idProblem('id', id) === undefined;
}
