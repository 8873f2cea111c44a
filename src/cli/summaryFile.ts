import { closeSync, openSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricsSnapshot, PipelineMetrics } from '../metrics/index';
import { clientVersion } from '../transport/version';
import { messageOf } from './errors';
import { UsageError } from './io';
import type { MetricsEndpoint } from './metricsEndpoint';
import type { RunStats } from './summary';

/** How a run ended, as `--summary-file` says it (and the exit status follows it). */
export type RunStatus = 'ok' | 'failed' | 'unavailable' | 'interrupted';

/**
 * The per-run summary `--summary-file` writes: the run's figures for batch jobs, the same as the
 * metrics (`metrics` holds the snapshot of every instrument; docs/monitoring.md).
 */
export interface RunSummary {
  readonly version: 1;
  readonly tool: string;
  readonly status: RunStatus;
  readonly exitStatus: number;
  /** The one message of a run that could not use the service (exit status 3). */
  readonly message?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedSeconds: number;
  readonly address: string;
  readonly images: {
    readonly total: number;
    readonly succeeded: number;
    readonly failed: number;
    /** Inputs never read nor sent (the service was unusable, the outage budget spent, or interrupted). */
    readonly notAttempted: number;
    readonly byCode: Record<string, number>;
  };
  /** Bytes read from files, pixels prepared, and bytes actually written to the stream. */
  readonly bytes: { readonly read: number; readonly prepared: number; readonly sent: number };
  readonly metrics: MetricsSnapshot;
}

/** Checks that `--summary-file` can be written, before any work; returns its absolute path. */
export function checkSummaryFile(path: string | undefined, cwd: string): string | undefined {
  if (path === undefined) return undefined;
  const full = resolve(cwd, path);
  try {
    closeSync(openSync(full, 'a'));
  } catch (err) {
    throw new UsageError(`--summary-file: cannot write '${path}' (${messageOf(err)})`);
  }
  return full;
}

/** Writes the summary as pretty JSON (a few kB, once per run). */
export function writeSummaryFile(path: string, summary: Omit<RunSummary, 'version' | 'tool'>): void {
  const full: RunSummary = { version: 1, tool: `athena-rx ${clientVersion()}`, ...summary };
  writeFileSync(path, JSON.stringify(full, null, 2) + '\n');
}

/** What a run keeps for its end: where the summary goes, its counts and metrics. */
export interface RunRecordInit {
  readonly summaryPath: string | undefined;
  readonly address: string;
  readonly total: number;
  readonly stats: RunStats;
  readonly metrics: PipelineMetrics;
  readonly endpoint: MetricsEndpoint | undefined;
}

/** The start of a run, and its end: the summary file written, the metrics released. */
export class RunRecord {
  private readonly startedAtIso = new Date().toISOString();
  private readonly startedAt = performance.now();

  constructor(private readonly init: RunRecordInit) {}

  /** Writes the summary file (if asked), stops the metrics; resolves to `exitStatus`. */
  async end(status: RunStatus, exitStatus: number, notAttempted: number, message?: string): Promise<number> {
    const { summaryPath, stats, metrics, endpoint } = this.init;
    const snap = metrics.snapshot();
    if (summaryPath !== undefined) {
      writeSummaryFile(summaryPath, {
        status,
        exitStatus,
        ...(message !== undefined ? { message } : {}),
        startedAt: this.startedAtIso,
        finishedAt: new Date().toISOString(),
        elapsedSeconds: Math.round(performance.now() - this.startedAt) / 1000,
        address: this.init.address,
        images: {
          total: this.init.total,
          succeeded: stats.succeeded,
          failed: stats.failed,
          notAttempted,
          byCode: Object.fromEntries(stats.byCode),
        },
        bytes: snap.bytes,
        metrics: snap,
      });
    }
    await endpoint?.stop(); // first: a textfile written there still has the gauges
    metrics.dispose();
    return exitStatus;
  }
}
