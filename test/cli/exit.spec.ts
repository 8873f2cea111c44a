import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { binCommand } from '../helpers/binCommand';

// The package as built from the sources as they are (a clone need not have run the build).
let pkg: PackageCopy;
beforeAll(async () => {
  pkg = await transpiledPackage();
}, 120_000);
afterAll(() => pkg?.remove());

/**
 * The command line ends when its command has, even if a dependency still holds the event loop: a
 * worker that had read 10 MB job entries took 2.3 s more to exit after its summary, while
 * ioredis's parser shrank its buffer pool on a 50 ms timer. Here a preloaded module stands in for
 * such a dependency with a timer that never ends.
 */
it('exits with the command exit status once the command is done, though a dependency holds a timer', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-exit-'));
  try {
    const preload = path.join(dir, 'lingering-timer.cjs');
    fs.writeFileSync(preload, 'setInterval(() => {}, 50);\n');
    // As the bin's #! line starts it (its malloc and V8 settings), with the preload in front.
    const cli = binCommand(path.join(pkg.dir, 'bin/athena-rx.js'), ['classify', path.join(dir, 'missing.jpg')]);
    const child = spawn(cli.command, ['-r', preload, ...cli.args], { env: cli.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // real-time wait: at most 20 s for the exit (about 0.5 s idle); before the fix it never came.
    const bound = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | string | null>((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)));
    clearTimeout(bound);
    expect({ code, stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('missing.jpg') });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
