import { formatDuration, ProgressBar, renderProgress } from '../../src/cli/progress';
import { formatBytes, renderSummary, RunStats } from '../../src/cli/summary';

describe('renderProgress (pure)', () => {
  it('shows done/total, percent, rate, errors and ETA', () => {
    expect(renderProgress({ done: 12, total: 40, errors: 1, elapsedMs: 1500 }, 80)).toBe(
      '[#########.....................]  12/40   30%  8.0 img/s  1 error  ETA 0:04',
    );
  });

  it('before the first result: no rate, unknown ETA', () => {
    expect(renderProgress({ done: 0, total: 9, errors: 0, elapsedMs: 0 }, 80)).toBe(
      '[..............................]  0/9    0%  - img/s  0 errors  ETA --:--',
    );
  });

  it('when done: a full bar and ETA 0:00', () => {
    expect(renderProgress({ done: 9, total: 9, errors: 2, elapsedMs: 3000 }, 80)).toMatch(
      /^\[#{30}\]  9\/9  100%  3\.0 img\/s  2 errors  ETA 0:00$/,
    );
  });

  it('shrinks the bar to the terminal and never fills the last column', () => {
    const line = renderProgress({ done: 500, total: 1000, errors: 0, elapsedMs: 10_000 }, 60);
    expect(line.length).toBeLessThanOrEqual(59);
    expect(line).toMatch(/^\[#+\.+\]   500\/1000   50%  50\.0 img\/s  0 errors  ETA 0:10$/);
    expect(renderProgress({ done: 1, total: 2, errors: 0, elapsedMs: 1 }, 20).length).toBeLessThanOrEqual(19);
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(61_000)).toBe('1:01');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
  });
});

describe('ProgressBar', () => {
  const stream = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, isTTY, columns: 80, write: (s: string) => writes.push(s) };
  };

  it('draws nothing when stderr is not a terminal', () => {
    const s = stream(false);
    const bar = new ProgressBar(s, 10);
    bar.update(5, 1);
    bar.clear();
    bar.stop();
    expect(s.writes).toEqual([]);
  });

  it('on a terminal: draws in place, redraws at most every 100 ms, clears on stop', () => {
    jest.useFakeTimers();
    try {
      let now = 0;
      const s = stream(true);
      const bar = new ProgressBar(s, 10, () => now);
      expect(s.writes).toEqual([`\r${renderProgress({ done: 0, total: 10, errors: 0, elapsedMs: 0 })}\x1b[K`]);
      bar.update(1, 0);
      bar.update(2, 0);
      expect(s.writes).toHaveLength(1); // updates alone do not draw
      now = 1000;
      jest.advanceTimersByTime(100);
      expect(s.writes).toHaveLength(2);
      expect(s.writes[1]).toBe(`\r${renderProgress({ done: 2, total: 10, errors: 0, elapsedMs: 1000 })}\x1b[K`);
      jest.advanceTimersByTime(100); // nothing changed: no redraw
      expect(s.writes).toHaveLength(2);
      bar.clear();
      expect(s.writes[2]).toBe('\r\x1b[K');
      jest.advanceTimersByTime(100); // redrawn under whatever was written
      expect(s.writes).toHaveLength(4);
      bar.stop();
      expect(s.writes[4]).toBe('\r\x1b[K');
      jest.advanceTimersByTime(1000);
      expect(s.writes).toHaveLength(5);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('summary', () => {
  it('counts by outcome and code, throughput, bytes before and after compression', () => {
    const stats = new RunStats();
    stats.addSuccess();
    stats.addSuccess();
    stats.addFailure('DECODE_FAILED', 'a.jpg: broken');
    stats.addFailure('DECODE_FAILED', 'b.jpg: broken too');
    stats.addFailure('ERROR_CODE_MODEL_ERROR');
    stats.addBytes({ original: 50_000, prepared: 602_112, wire: 150_528 });
    stats.addBytes({ original: 60_000, prepared: 602_112, wire: 150_528 });
    expect(renderSummary(stats, 2500)).toBe(
      [
        '5 images in 0:03 (2.0 images/s): 2 succeeded, 3 failed',
        'failed by code:',
        '  DECODE_FAILED               2  e.g. a.jpg: broken',
        '  ERROR_CODE_MODEL_ERROR      1',
        'bytes: 110 kB read, 1.2 MB of pixels prepared, 301 kB sent (25% of the pixels; Brotli)',
      ].join('\n'),
    );
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_500_000_000)).toBe('1.5 GB');
  });
});
