import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UsageError, type Command } from './io';

/** The option table `node:util` `parseArgs` takes. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parsed flags: strings for valued options, booleans for switches, absent when not given. */
export type Flags = Record<string, string | boolean | undefined>;

export interface Parsed {
  readonly flags: Flags;
  readonly positionals: string[];
}

/**
 * Parses a command's arguments strictly: an unknown option or a missing value is a
 * {@link UsageError} (exit 2) naming the option, never a silently ignored typo.
 */
export function parseCommandArgs(args: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    // parseArgs types `values` from the literal config; the commands share one loose shape.
    return { flags: values as Flags, positionals };
  } catch (err) {
    // parseArgs' TypeErrors carry codes ERR_PARSE_ARGS_*; their messages name the option. (Not
    // `instanceof Error`: Node's own errors come from another realm under test runners' VMs.)
    const raw = typeof (err as { message?: unknown })?.message === 'string' ? (err as { message: string }).message : String(err);
    const message = raw.replace(/\. To specify a positional argument.*$/s, '').replace(/\n/g, ' ');
    throw new UsageError(`${message}; --help lists the options`);
  }
}

/** A string flag, or `undefined` when absent. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A boolean switch. */
export function boolFlag(flags: Flags, name: string): boolean {
  return flags[name] === true;
}

/** An integer flag within [min, max]; a malformed or out-of-range value is a usage error. */
export function intFlag(flags: Flags, name: string, range: { min: number; max: number }): number | undefined {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return undefined;
  if (!/^[+]?\d+$/.test(raw.trim())) throw new UsageError(`--${name} must be a whole number, got '${raw}'`);
  const n = Number(raw);
  if (n < range.min || n > range.max) throw new UsageError(`--${name} must be between ${range.min} and ${range.max}, got ${raw}`);
  return n;
}

/** A non-negative finite number flag (e.g. a tolerance). */
export function numberFlag(flags: Flags, name: string): number | undefined {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number, got '${raw}'`);
  return n;
}

/** One of a fixed set of words. */
export function choiceFlag<T extends string>(flags: Flags, name: string, choices: readonly T[]): T | undefined {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}; got '${raw}'`);
  return raw as T;
}

/** Whether `--help`/`-h` was asked for (checked before strict parsing, so it works next to typos). */
export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** A command that prints `help` on stdout for `--help` or `-h`, and otherwise runs. */
export function withHelp(help: string, run: Command): Command {
  return async (args, io) => {
    if (!wantsHelp(args)) return run(args, io);
    io.stdout.write(help);
    return EXIT.ok;
  };
}
