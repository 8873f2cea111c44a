import { main } from '../../src/cli/main';
import { EXIT } from '../../src/cli/io';
import { fakeIo } from './fakeIo';

describe('athena-rx <command> --help', () => {
  it.each(['classify', 'single', 'deployments', 'e2e', 'prepare', 'serve', 'enqueue', 'worker'])(
    '%s prints its usage and exits 0 without doing any work',
    async (command) => {
      for (const flag of ['--help', '-h']) {
        const io = fakeIo();
        expect(await main([command, flag], io)).toBe(EXIT.ok);
        expect(io.out()).toMatch(new RegExp(`athena-rx ${command}`));
        expect(io.err()).toBe('');
      }
    },
  );
});
