/**
 * `classify` when the server goes away for good mid-run (issue 11): after --give-up-after, the
 * image in flight fails once, the files not yet read get one NOT_ATTEMPTED line each (jsonl),
 * stderr says what happened once, and the summary file counts them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startAthenaServer } from '../../src/testing/index';
import { fakeIo } from './fakeIo';

const root = join(__dirname, '../..');

describe('classify through an outage longer than --give-up-after', () => {
  it('one line per file: classified, TRANSPORT_FAILED once, or NOT_ATTEMPTED (not read); exit 1', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'athena-outage-'));
    const server = await startAthenaServer();
    server.faults.latency(300); // one image at a time, 300 ms each: the server stops after the first
    const io = fakeIo({ cwd: root });
    const summary = join(tmp, 'summary.json');
    let stopped: Promise<void> | undefined;
    const watch = setInterval(() => {
      if (!stopped && io.out().includes('\n')) stopped = server.stop();
    }, 20);
    try {
      const code = await main(
        [
          'classify',
          'samples',
          '--address',
          server.address,
          '--insecure',
          '--format',
          'jsonl',
          '--batch-size',
          '1',
          '--in-flight',
          '1',
          '--concurrency',
          '1',
          '--give-up-after',
          '1',
          '--summary-file',
          summary,
        ],
        io,
      );
      expect(code).toBe(1);
      const lines = io
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(8);
      expect(new Set(lines.map((l) => l.file)).size).toBe(8);
      const byCode = (c: string | null) => lines.filter((l) => l.errorCode === c).length;
      expect(byCode(null)).toBeGreaterThanOrEqual(1);
      expect(byCode('TRANSPORT_FAILED')).toBeLessThanOrEqual(2);
      expect(byCode('NOT_ATTEMPTED')).toBeGreaterThanOrEqual(4);
      for (const l of lines.filter((x) => x.errorCode === 'NOT_ATTEMPTED')) expect(l).toMatchObject({ outcome: 'failure', attempts: 0 });
      const err = io.err();
      expect(err.match(/broke \(/g)).toHaveLength(1);
      expect(err.match(/gave up on 127\.0\.0\.1:\d+ after \d+\.\d s/g)).toHaveLength(1);
      const written = JSON.parse(readFileSync(summary, 'utf8'));
      expect(written.images.notAttempted).toBe(byCode('NOT_ATTEMPTED'));
      expect(written.status).toBe('failed');
    } finally {
      clearInterval(watch);
      await (stopped ?? server.stop());
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 30_000);
});
