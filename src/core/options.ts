import { InvalidOptionError } from './invalidOptionError';

/**
 * The checks every operator runs on its options when it is created, so a bad value fails at once
 * with an `InvalidOptionError` naming the operator, the option and what it got, never later as a
 * NaN delay or a silently ignored setting. `op` is the operator's name, as in its messages.
 */
const got = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value));

/** A number (ms, a size) of at least `min` (`Infinity` allowed only when `infinite`). */
export function checkNumber(op: string, name: string, value: unknown, min = 0, infinite = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || (!infinite && !Number.isFinite(value)))
    throw new InvalidOptionError(`${op}: ${name} must be a number >= ${min}, got ${got(value)}`);
  return value;
}

/** An integer of at least `min` (`Infinity` allowed only when `infinite`). */
export function checkInteger(op: string, name: string, value: unknown, min = 0, infinite = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !((infinite && value === Infinity) || (Number.isInteger(value) && value >= min)))
    throw new InvalidOptionError(`${op}: ${name} must be an integer >= ${min}, got ${got(value)}`);
  return value;
}

/** One of `allowed`. */
export function checkOneOf<T extends string>(op: string, name: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T))
    throw new InvalidOptionError(`${op}: ${name} must be ${allowed.map((a) => `'${a}'`).join(', ')}, got ${got(value)}`);
  return value as T;
}

/** A function (a callback such as `random`). */
export function checkFunction(op: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function')
    throw new InvalidOptionError(`${op}: ${name} must be a function, got ${got(value)}`);
}

/** An object with the methods `methods` (a scheduler, a window, a breaker). */
export function checkMethods(op: string, name: string, value: unknown, methods: readonly string[]): void {
  if (value === undefined) return;
  const missing = methods.filter((m) => typeof (value as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length > 0) throw new InvalidOptionError(`${op}: ${name} must have ${missing.join(', ')}(), got ${got(value)}`);
}

/**
 * The value of an option that was renamed, under its new name or its deprecated old one (kept for
 * one minor version). Both at once, with different values, is refused: which one was meant?
 */
export function renamed<T>(op: string, current: string, value: T | undefined, old: string, oldValue: T | undefined): T | undefined {
  if (value !== undefined && oldValue !== undefined && value !== oldValue)
    throw new InvalidOptionError(
      `${op}: ${current} and its deprecated name ${old} disagree (${got(value)} and ${got(oldValue)}); give ${current} only`,
    );
  return value ?? oldValue;
}
