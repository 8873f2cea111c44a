/** What a scrape of ours can show: the names and labels the rules and the dashboard may use. */
import { INSTRUMENTS, type InstrumentSpec } from '../../src/metrics/instruments';
import { prometheusName } from '../../src/metrics/naming';

/**
 * The worker's instruments (issue 18), by their Prometheus names, with the attributes they carry:
 * the rules' worker series are written by hand from these.
 */
export const WORKER_METRICS: Record<string, readonly string[]> = {
  athena_worker_group_lag: [],
  athena_worker_jobs_pending: [],
  athena_worker_dead_letters_total: [],
  athena_worker_outage: ['athena_dependency'],
};

/** Labels every series of ours carries (the exporter's scope labels), and those Prometheus adds. */
const COMMON_LABELS = ['otel_scope_name', 'otel_scope_version', 'job', 'instance'];

/** Every metric name a scrape of ours can show, with the label names it may carry. */
export function shippedMetrics(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, labels: readonly string[]) => out.set(name, new Set([...labels, ...COMMON_LABELS]));
  for (const spec of Object.values(INSTRUMENTS) as InstrumentSpec[]) {
    const name = prometheusName(spec);
    const labels = spec.attributes.map((a) => a.replace(/\./g, '_'));
    if (spec.kind === 'histogram') {
      for (const suffix of ['_sum', '_count']) add(name + suffix, labels);
      add(`${name}_bucket`, [...labels, 'le']);
    } else add(name, labels);
  }
  for (const [name, labels] of Object.entries(WORKER_METRICS)) add(name, labels);
  return out;
}
