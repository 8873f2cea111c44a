import { Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/io';

/** A `CliIo` whose streams collect what the command writes. */
export interface FakeIo extends CliIo {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean; columns?: number };
  out(): string;
  err(): string;
}

function collector(chunks: string[], tty: boolean): Writable & { isTTY?: boolean; columns?: number } {
  const stream = new Writable({
    // decodeStrings: false keeps strings as written, so the test sees exactly what was printed.
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      callback();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  if (tty) {
    stream.isTTY = true;
    stream.columns = 100;
  }
  return stream;
}

export function fakeIo(options: { env?: NodeJS.ProcessEnv; cwd?: string; stderrTTY?: boolean } = {}): FakeIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: collector(out, false),
    stderr: collector(err, options.stderrTTY ?? false),
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
