import { EXIT, UsageError, processIo, type CliIo, type Command } from './io';
import { terminalSafe } from './terminal';
import { clientVersion } from '../transport/version';

/**
 * Subcommands, loaded on demand so that `athena-rx serve` does not load sharp and
 * `athena-rx prepare` does not load gRPC.
 */
const commands: Record<string, { summary: string; load: () => Command }> = {
  classify: {
    summary: 'classify image files, folders or globs, streaming results',
    load: () => (require('./commands/classify') as typeof import('./commands/classify')).classify,
  },
  single: {
    summary: 'classify one image with the unary ClassifySingle call',
    load: () => (require('./commands/single') as typeof import('./commands/single')).single,
  },
  deployments: {
    summary: 'list the deployments of a server and their backlogs',
    load: () => (require('./commands/deployments') as typeof import('./commands/deployments')).deployments,
  },
  e2e: {
    summary: 'run a shared test-case folder (expected_outputs.json + images/)',
    load: () => (require('./commands/e2e') as typeof import('./commands/e2e')).e2e,
  },
  prepare: {
    summary: 'write the exact 448x448 BGR pixels that would be sent, for inspection',
    load: () => (require('./commands/prepare') as typeof import('./commands/prepare')).prepare,
  },
  enqueue: {
    summary: 'add image files as jobs to a Redis stream for workers',
    load: () => (require('./commands/enqueue') as typeof import('./commands/enqueue')).enqueue,
  },
  worker: {
    summary: 'classify the jobs of a Redis stream as one worker of a group',
    load: () => (require('./commands/worker') as typeof import('./commands/worker')).worker,
  },
  serve: {
    summary: 'run the in-process Athena-compatible server standalone',
    load: () => (require('./commands/serve') as typeof import('./commands/serve')).serve,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return [
    'usage: athena-rx <command> [options]',
    '       athena-rx help [command] | --version',
    '',
    'commands:',
    ...lines,
    '',
    'athena-rx <command> --help (or athena-rx help <command>) for its options',
  ].join('\n');
}

/**
 * An error message on one line: a message that spans lines (a require stack, a wrapped cause) is
 * joined with ` | `, then escaped so that no operand in it can act on the terminal.
 */
export function oneLine(message: string): string {
  return terminalSafe(
    message
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' | '),
  );
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.stdout.write(usage() + '\n');
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${clientVersion()}\n`);
    return EXIT.ok;
  }
  // `help classify` is `classify --help`; `help` alone is the list of commands.
  if (name === 'help') return rest[0] === undefined ? main(['--help'], io) : main([rest[0], '--help'], io);
  const command = commands[name];
  if (!command) {
    io.stderr.write(`athena-rx: unknown command '${terminalSafe(name)}'\n\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    return await command.load()(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`athena-rx ${name}: ${oneLine(err.message)}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}
