import type { MonoTypeOperatorFunction } from 'rxjs';
import type { CircuitBreaker } from '../reliability/circuitBreaker';
import type { ClassifyEvent } from './classify';
import type { CorrelateStats } from './correlate';
import type { InFlightWindow } from './inFlightWindow';
import type { ClassificationEvent } from './results';

/**
 * What `classifyImages` needs of something that watches a pipeline (the metrics of
 * `pipelineMetrics()`, athena-rx's OpenTelemetry instruments, are one): taps on the events of
 * `classify` and on the results, the counters of `correlate`, and the window and breaker to read.
 * Defined here, implemented above: the operators do not depend on the metrics layer.
 */
export interface PipelineObserver {
  readonly correlateStats: CorrelateStats;
  tapClassifyEvents<R>(): MonoTypeOperatorFunction<ClassifyEvent<R>>;
  tapResults<R>(): MonoTypeOperatorFunction<ClassificationEvent<R>>;
  observeWindow(window: Pick<InFlightWindow, 'inUse' | 'size'>): void;
  observeBreaker(breaker: CircuitBreaker): void;
  dispose(): void;
}
