import { closeSync, openSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricsSnapshot } from '../metrics/index';
import { clientVersion } from '../transport/version';
import { messageOf } from './errors';
import { UsageError } from './io';

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
