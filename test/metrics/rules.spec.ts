/**
 * monitoring/athena-rx.rules.yml, tested by Prometheus's own tools (issue 21): `promtool check
 * rules` and `promtool test rules` pass, and the unit tests' series are those a real scrape of
 * our endpoint shows (same names, same labels), so that the rules are tested on what users scrape.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startAthenaServer } from '../../src/testing/index';
import { fakeIo } from '../cli/fakeIo';
import { shippedMetrics } from './shipped';
import { classifySamples, failFirstImages, hasPromtool, parseScrape, type Sample } from './scrape';

const root = join(__dirname, '../..');
const monitoring = join(root, 'monitoring');

/** The `series:` of a promtool unit-test file, parsed. */
function testSeries(file: string): Sample[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const series = lines.map((l) => /^\s*- series: '(.*)'\s*$/.exec(l)?.[1]).filter((s): s is string => s !== undefined);
  return parseScrape(series.map((s) => `${s} 0`).join('\n'));
}

const promtool = hasPromtool();
if (!promtool) console.warn('skipped promtool check/test rules: promtool not installed (.ci/run installs Debian prometheus)');
const withPromtool = promtool ? it : it.skip;

describe('monitoring/athena-rx.rules.yml', () => {
  withPromtool('passes promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', 'athena-rx.rules.yml'], { cwd: monitoring, encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  withPromtool('passes its unit tests (promtool test rules)', () => {
    // promtool exits non-zero, and execFileSync throws with its report, when a test fails.
    const out = execFileSync('promtool', ['test', 'rules', 'athena-rx.rules.test.yml'], { cwd: monitoring, encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  it('names only metrics we ship, with labels they carry', () => {
    const known = shippedMetrics();
    const rules = readFileSync(join(monitoring, 'athena-rx.rules.yml'), 'utf8');
    const labels = new Set([...known.values()].flatMap((l) => [...l]));
    const recorded = new Set([...rules.matchAll(/record: (\S+)/g)].map((m) => m[1]!));
    const names = [...rules.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]);
    const named = new Set(names.filter((n) => n.startsWith('athena_') && !labels.has(n) && !recorded.has(n)));
    expect(named.size).toBeGreaterThanOrEqual(6);
    expect([...named].filter((n) => !known.has(n))).toEqual([]);
    for (const s of testSeries(join(monitoring, 'athena-rx.rules.test.yml'))) {
      expect([s.name, Object.keys(s.labels).filter((l) => !known.get(s.name)?.has(l))]).toEqual([s.name, []]);
    }
  });

  it('writes its client series as a real scrape shows them: every label a real series has, and no other', async () => {
    const server = await startAthenaServer();
    const tmp = mkdtempSync(join(tmpdir(), 'athena-rules-'));
    try {
      // A run with a failing image, for the failure series with their codes.
      failFirstImages(server, 1);
      const textfile = join(tmp, 'real.prom');
      const io = fakeIo({ cwd: root });
      const args = classifySamples(server.address, '--deployment-id', 'moderation-eu');
      expect(await main([...args, '--metrics-textfile', textfile], io)).toBe(1);
      const real = parseScrape(readFileSync(textfile, 'utf8'));
      const shapes = new Map<string, Set<string>>();
      for (const r of real) shapes.set(r.name, (shapes.get(r.name) ?? new Set()).add(Object.keys(r.labels).sort().join(',')));
      const written = testSeries(join(monitoring, 'athena-rx.rules.test.yml')).filter((s) => shapes.has(s.name));
      expect(written.length).toBeGreaterThanOrEqual(6); // outputs, images, window usage at least
      for (const s of written) {
        const labels = Object.keys(s.labels)
          .filter((l) => l !== 'job' && l !== 'instance')
          .sort()
          .join(',');
        expect([s.name, shapes.get(s.name)!.has(labels)]).toEqual([s.name, true]);
      }
    } finally {
      await server.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);
});
