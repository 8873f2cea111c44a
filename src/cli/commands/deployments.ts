import { choiceFlag, parseCommandArgs, withHelp } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectFromFlags } from '../connect';
import { describeCallError } from '../errors';
import { EXIT, UsageError, type Command } from '../io';
import { terminalSafe } from '../terminal';

const HELP = `usage: athena-rx deployments [options]

Lists the server's deployments (ListDeployments) with their backlog: responses waiting
for a client to collect them.

options:
  --format table|json     default table
  --timeout SECONDS       deadline of the call, default 30

${CONNECTION_HELP}
`;

export const deployments: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS,
    format: { type: 'string' },
    timeout: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`takes no operands, got '${positionals[0]}'`);
  const format = choiceFlag(flags, 'format', ['table', 'json'] as const) ?? 'table';
  const timeoutS = Number(flags.timeout ?? 30);
  if (!(timeoutS > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got '${String(flags.timeout)}'`);

  const connection = await connectFromFlags(flags, io);
  try {
    const { deployments: list } = await connection.client.listDeployments({ deadline: timeoutS * 1000 });
    const rows = [...list].sort((a, b) => (a.deploymentId < b.deploymentId ? -1 : a.deploymentId > b.deploymentId ? 1 : 0));
    if (format === 'json') {
      io.stdout.write(JSON.stringify(rows.map((d) => ({ deploymentId: d.deploymentId, backlog: d.backlog }))) + '\n');
    } else {
      // Ids come from the server (and from whoever named them): escaped for the terminal.
      const ids = rows.map((d) => terminalSafe(d.deploymentId));
      const w = Math.max('DEPLOYMENT ID'.length, ...ids.map((id) => id.length));
      io.stdout.write(`${'DEPLOYMENT ID'.padEnd(w)}  BACKLOG\n`);
      rows.forEach((d, i) => io.stdout.write(`${ids[i]!.padEnd(w)}  ${String(d.backlog).padStart(7)}\n`));
      if (rows.length === 0) io.stderr.write('no deployments: a deployment appears when a Classify stream first names it\n');
    }
    return EXIT.ok;
  } catch (err) {
    io.stderr.write(`athena-rx deployments: ${terminalSafe(describeCallError(err, connection.address))}\n`);
    return EXIT.failed;
  } finally {
    await connection.close();
  }
});
