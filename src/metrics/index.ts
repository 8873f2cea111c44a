export { ATTR, INSTRUMENTS, METER_NAME, type InstrumentSpec } from './instruments';
export { OVERFLOW_VALUE } from './labels';
export { prometheusName, prometheusViews, type RenameView } from './naming';
export { observeTokens } from './observeTokens';
export {
  pipelineMetrics,
  type DurationSummary,
  type MetricsSnapshot,
  type PipelineMetrics,
  type PipelineMetricsOptions,
} from './pipelineMetrics';
