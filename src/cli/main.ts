import { EXIT, UsageError, processIo, type CliIo, type Command } from './io';
import { terminalSafe } from './terminal';

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
  return ['usage: athena-rx <command> [options]', '', 'commands:', ...lines, '', 'athena-rx <command> --help for its options'].join('\n');
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.stdout.write(usage() + '\n');
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`athena-rx: unknown command '${name}'\n\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    return await command.load()(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      // Messages quote operands (file names): escaped, so that none can act on the terminal.
      io.stderr.write(`athena-rx ${name}: ${terminalSafe(err.message)}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}
