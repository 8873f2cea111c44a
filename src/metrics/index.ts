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

import { setDefaultPipelineObserver } from '../operators/pipelineObserver';
import { pipelineMetrics } from './pipelineMetrics';

// The library instruments itself: classifyImages records to the global meter (a no-op until the
// application registers an OpenTelemetry SDK). Registered here, from the layer above the operators.
setDefaultPipelineObserver((init) => pipelineMetrics(init));
