import { INSTRUMENTS, METER_NAME, type InstrumentSpec } from './instruments';

/**
 * The Prometheus suffix of a UCUM unit, by OpenTelemetry's Prometheus compatibility rules: base
 * units only. Annotations (`{image}`) add nothing; `1` adds nothing either, since our `1`
 * instruments are 0/1 states (as semconv's `hw.status`), not ratios.
 */
const UNIT_SUFFIX: Readonly<Record<string, string>> = { s: 'seconds', By: 'bytes' };

/**
 * The Prometheus name of an instrument, as a scrape shows it: dots to underscores, the unit's
 * suffix (`_seconds`, `_bytes`) unless the name ends with it, and `_total` for counters.
 * Histograms add `_bucket`, `_sum` and `_count` to it.
 *
 * @example
 * ```ts
 * prometheusName(INSTRUMENTS.roundTrip); // 'athena_client_classify_duration_seconds'
 * ```
 */
export function prometheusName(spec: Pick<InstrumentSpec, 'kind' | 'name' | 'unit'>): string {
  let name = spec.name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
  const suffix = UNIT_SUFFIX[spec.unit];
  if (suffix !== undefined && !name.endsWith(`_${suffix}`)) name += `_${suffix}`;
  if (spec.kind === 'counter' || spec.kind === 'observable counter') name += '_total';
  return name;
}

/** A view that renames one instrument: the shape of `ViewOptions` in `@opentelemetry/sdk-metrics` 2.x. */
export interface RenameView {
  readonly meterName: string;
  readonly instrumentName: string;
  readonly name: string;
}

/**
 * Views for `new MeterProvider({ views })` that give our instruments their unit suffix in
 * Prometheus. `@opentelemetry/exporter-prometheus` turns dots into underscores and adds `_total`
 * to counters, but adds no unit suffix: without these views a duration in seconds would be
 * scraped as `athena_client_classify_duration_bucket`. The CLI uses them; a program that
 * exports to Prometheus with that exporter passes them too (OTLP needs none).
 *
 * @example
 * ```ts
 * new MeterProvider({ readers: [new PrometheusExporter()], views: prometheusViews() });
 * ```
 */
export function prometheusViews(specs: Iterable<InstrumentSpec> = Object.values(INSTRUMENTS)): RenameView[] {
  const views: RenameView[] = [];
  for (const spec of specs) {
    const suffix = UNIT_SUFFIX[spec.unit];
    if (suffix === undefined || spec.name.endsWith(`_${suffix}`) || spec.name.endsWith(`.${suffix}`)) continue;
    views.push({ meterName: METER_NAME, instrumentName: spec.name, name: `${spec.name}_${suffix}` });
  }
  return views;
}
