import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { prepareImage, type ClassificationOutput } from '../../index';
import { choiceFlag, intFlag, parseCommandArgs, withHelp } from '../args';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectFromFlags } from '../connect';
import { describeCallError, messageOf } from '../errors';
import { EXIT, UsageError, type Command } from '../io';
import { terminalSafe } from '../terminal';
import type { ResultRecord } from '../output';
import { PREPARE_HELP, PREPARE_OPTIONS, resolvePrepare } from '../pipelineOptions';

const HELP = `usage: athena-rx single <image> [options]

Prepares one image (decode, resize to 448x448 BGR, hash) and classifies it with the unary
ClassifySingle call (no deployment, no stream). Prints every label, heaviest first.

options:
  --format table|json     default table; json prints one record as classify's formats do
  --timeout SECONDS       deadline of the call, default 30

${PREPARE_HELP}

${CONNECTION_HELP}
`;

/** Error codes are enum names on the wire; anything but UNSPECIFIED-without-message means failure. */
function outputError(output: ClassificationOutput): { code: string; message: string } | undefined {
  const e = output.error;
  if (!e) return undefined;
  if (e.code === 'ERROR_CODE_UNSPECIFIED' && !e.message && !e.details) return undefined;
  return { code: String(e.code), message: [e.message, e.details].filter(Boolean).join(': ') || String(e.code) };
}

/** A folder or a name that is nothing is a usage error (exit 2), found before connecting. */
async function checkOneFile(file: string, cwd: string): Promise<void> {
  const s = await stat(resolve(cwd, file)).catch(() => undefined);
  if (s === undefined) throw new UsageError(`no such file: '${file}'`);
  if (s.isDirectory()) throw new UsageError(`'${file}' is a folder; single classifies one image file (classify takes folders)`);
}

export const single: Command = withHelp(HELP, async (args, io) => {
  const { flags, positionals } = parseCommandArgs(args, {
    ...CONNECTION_OPTIONS,
    ...PREPARE_OPTIONS,
    format: { type: 'string' },
    timeout: { type: 'string' },
  });
  // The unary call has no deployment: a flag that would do nothing is refused, not ignored.
  // (ATHENA_DEPLOYMENT_ID in the environment is meant for classify and is left alone.)
  if (flags['deployment-id'] !== undefined)
    throw new UsageError('--deployment-id does not apply: ClassifySingle has no deployment (classify --deployment-id streams to one)');
  if (positionals.length !== 1) throw new UsageError(`takes exactly one image file, got ${positionals.length}`);
  const file = positionals[0] as string;
  const format = choiceFlag(flags, 'format', ['table', 'json'] as const) ?? 'table';
  const timeoutS = intFlag(flags, 'timeout', { min: 1, max: 3600 }) ?? 30;
  const prep = resolvePrepare(flags);
  await checkOneFile(file, io.cwd);

  const connection = await connectFromFlags(flags, io);
  try {
    const writeRecord = (record: ResultRecord): void => {
      if (format === 'json') io.stdout.write(JSON.stringify(record) + '\n');
    };
    let prepared;
    try {
      prepared = await prepareImage(resolve(io.cwd, file), {
        encoding: prep.encoding,
        brotliQuality: prep.encoding === 'brotli' ? prep.brotliQuality : undefined,
        hashes: prep.hashes,
        affiliate: connection.client.affiliate,
      });
    } catch (err) {
      // A PreprocessError has a stable code; anything else is reported by its message.
      const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : 'PREPARE_FAILED';
      const message = messageOf(err);
      writeRecord({ file, correlationId: '', outcome: 'failure', labels: {}, errorCode: code, errorMessage: message, attempts: 0 });
      io.stderr.write(`athena-rx single: ${terminalSafe(file)}: ${code}: ${terminalSafe(message)}\n`);
      return EXIT.failed;
    }
    let output: ClassificationOutput;
    try {
      output = await connection.client.classifySingle(
        {
          correlationId: prepared.correlationId,
          format: prepared.format,
          encoding: prepared.encoding,
          data: prepared.data,
          hashes: [...prepared.hashes],
          ...(prepared.affiliate ? { affiliate: prepared.affiliate } : {}),
        },
        { deadline: timeoutS * 1000 },
      );
    } catch (err) {
      io.stderr.write(`athena-rx single: ${describeCallError(err, connection.address)}\n`);
      return EXIT.failed;
    }
    const failure = outputError(output);
    if (failure) {
      writeRecord({
        file,
        correlationId: prepared.correlationId,
        outcome: 'failure',
        labels: {},
        errorCode: failure.code,
        errorMessage: failure.message,
        attempts: 1,
      });
      io.stderr.write(`athena-rx single: ${terminalSafe(file)}: ${failure.code}: ${terminalSafe(failure.message)}\n`);
      return EXIT.failed;
    }
    const labels: Record<string, number> = {};
    for (const c of output.classifications) labels[c.label] = c.weight;
    writeRecord({
      file,
      correlationId: prepared.correlationId,
      outcome: 'success',
      labels,
      errorCode: null,
      errorMessage: null,
      attempts: 1,
    });
    if (format === 'table') {
      const rows = [...output.classifications].sort((a, b) => b.weight - a.weight);
      const w = Math.max('LABEL'.length, ...rows.map((c) => terminalSafe(c.label).length));
      io.stdout.write(`${terminalSafe(file)}  (correlation id ${terminalSafe(prepared.correlationId)})\n`);
      io.stdout.write(`${'LABEL'.padEnd(w)}  WEIGHT\n`);
      // Labels come from the server: escaped like file names, so a hostile server cannot drive the terminal.
      for (const c of rows) io.stdout.write(`${terminalSafe(c.label).padEnd(w)}  ${c.weight.toFixed(6)}\n`);
      if (rows.length === 0) io.stdout.write('(the service returned no labels)\n');
    }
    return EXIT.ok;
  } finally {
    await connection.close();
  }
});
