import * as fs from 'node:fs';

/** How to start a script the way its `#!` line would: the program, its arguments, its environment. */
export interface BinCommand {
  readonly command: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
}

/**
 * `node <bin> ...args` as the bin's own `#!/usr/bin/env -S VAR=value... node --flag...` line starts
 * it (as `athena-rx` from a shell or npm's bin link does), with this process's node
 * (`process.execPath`) rather than whichever `node` is first on the PATH.
 *
 * Spawning `process.execPath bin/athena-rx.js` skips that line, and with it the CLI's malloc and
 * V8 settings (docs/performance.md, "Memory"): a worker then spent 1.3-1.4x the CPU per job on the
 * fixtures' tiny images (6.1 against 4.4 CPU-s for 1,000 jobs), the V8 flag most of it.
 */
export function binCommand(bin: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): BinCommand {
  const first = fs.readFileSync(bin, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  if (!m) throw new Error(`binCommand: ${bin} does not start with '#!/usr/bin/env -S': ${first}`);
  const words = m[1].trim().split(/\s+/);
  const node = words.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  if (words[node] !== 'node') throw new Error(`binCommand: ${bin}'s '#!' line does not run node: ${first}`);
  const childEnv = { ...env };
  for (const assignment of words.slice(0, node)) {
    const eq = assignment.indexOf('=');
    // `${VAR}` expands as env -S does: to the variable's value, or nothing.
    childEnv[assignment.slice(0, eq)] = assignment
      .slice(eq + 1)
      .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
  }
  return { command: process.execPath, args: [...words.slice(node + 1), bin, ...args], env: childEnv };
}
