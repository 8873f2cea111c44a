import { pipe, tap } from 'rxjs';
import type { ClassifyEvent } from '../operators/classify';
import { createCorrelateStats, type CorrelateStats } from '../operators/correlate';
import type { PipelineObserver } from '../operators/pipelineObserver';

/**
 * `observer` (or nothing), with `onEvent` told of every event of `classify` after the observer
 * saw it: how a caller of `classifyImages` learns of connection changes (an outage, the stream
 * back) through its public `metrics` option, without composing the stages itself.
 */
export function withClassifyEvents(
  observer: PipelineObserver | undefined,
  onEvent: (event: ClassifyEvent<unknown>) => void,
  stats: CorrelateStats = createCorrelateStats(),
): PipelineObserver {
  return {
    correlateStats: observer?.correlateStats ?? stats,
    tapClassifyEvents: <R>() =>
      pipe(
        observer ? observer.tapClassifyEvents<R>() : (events) => events,
        tap((e: ClassifyEvent<R>) => onEvent(e as ClassifyEvent<unknown>)),
      ),
    tapResults: <R>() => (observer ? observer.tapResults<R>() : (results) => results),
    observeWindow: (w) => observer?.observeWindow(w),
    observeBreaker: (b) => observer?.observeBreaker(b),
    dispose: () => observer?.dispose(),
  };
}
