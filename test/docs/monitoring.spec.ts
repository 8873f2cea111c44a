import * as fs from 'node:fs';
import * as path from 'node:path';
import { INSTRUMENTS } from '../../src/metrics/instruments';
import { prometheusName } from '../../src/metrics/naming';

/** docs/monitoring.md lists every instrument with its kind and unit: the page cannot drift from the code. */
describe('docs/monitoring.md', () => {
  const page = fs.readFileSync(path.join(__dirname, '../../docs/monitoring.md'), 'utf8');
  const rows = new Map(
    page
      .split('\n')
      .filter((l) => l.startsWith('| `athena.') && l.split('|').length > 5)
      .map((l) => l.split('|').map((c) => c.trim()))
      .map((cells) => [cells[1]!.replace(/`/g, ''), cells] as const),
  );

  it.each(Object.values(INSTRUMENTS).map((i) => [i.name, i] as const))('has a row for %s with its kind and unit', (name, spec) => {
    const row = rows.get(name);
    expect(row).toBeDefined();
    expect(row![2]).toBe(spec.kind);
    expect(row![3]).toBe(`\`${spec.unit}\``);
    // The Prometheus name: unit suffix and `_total` as the CLI's exporter (with our views) writes it.
    const prom = prometheusName(spec);
    expect(row![4]).toBe(spec.kind === 'histogram' ? `\`${prom}_bucket\`, \`_sum\`, \`_count\`` : `\`${prom}\``);
  });

  it('lists no instrument the code does not have', () => {
    const names = new Set(Object.values(INSTRUMENTS).map((i) => i.name as string));
    expect([...rows.keys()].filter((n) => !names.has(n))).toEqual([]);
  });
});
