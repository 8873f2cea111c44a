import type { CliIo } from './io';

/**
 * Calls `onInterrupt` on SIGINT/SIGTERM or when stdout's reader goes away (`| head`), for
 * the real process only: in-process callers (tests) pass their own streams and get no
 * process-wide listeners. Returns the function that removes the listeners.
 *
 * A signal always ends the run: the first lets it write its summary; a second one, or the run
 * still alive 5 s after the first (a read stuck in the kernel holds the event loop), ends the
 * process at once.
 */
export function watchInterrupts(io: CliIo, onInterrupt: () => void): () => void {
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') onInterrupt();
  };
  io.stdout.on('error', onError);
  const real = io.stdout === process.stdout;
  const onSignal = (signal: NodeJS.Signals): void => {
    const status = 128 + (signal === 'SIGINT' ? 2 : 15);
    const force = (): never => process.exit(process.exitCode ?? status);
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    // unref: the timer never keeps the process alive; it fires only if something else does.
    setTimeout(force, FORCED_EXIT_MS).unref();
    onInterrupt();
  };
  if (real) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return () => {
    io.stdout.off('error', onError);
    if (real) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}

/** How long an interrupted run may take to wind down before the process is ended regardless. */
const FORCED_EXIT_MS = 5_000;
