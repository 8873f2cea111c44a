export { ATTR, INSTRUMENTS, METER_NAME, type InstrumentSpec } from './instruments';
export {
  pipelineMetrics,
  type DurationSummary,
  type MetricsSnapshot,
  type PipelineMetrics,
  type PipelineMetricsOptions,
} from './pipelineMetrics';
