// The order in which jest starts the suites: the longest first, so that no worker starts a long
// suite when the others are nearly done (the run then ends when that suite does).
//
// Jest's own sequencer knows each suite's duration from earlier runs (in its cache folder) and
// otherwise orders by file size. A clean clone, and so every CI run, has no earlier run: the
// suites that are long because they wait in real time (an outage, a worker fleet, memory probes,
// child processes) are small files, and started last they added their whole length to the run.
// Here a suite without a recorded duration takes the one listed below (seconds, measured on the
// idle two-core machine; only the order matters, so a rough figure does), and else one guessed
// from its size. A recorded duration, when there is one, wins, as in jest's own order, and a
// suite that failed last time still runs first.
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const root = path.resolve(__dirname, '..');

/** Suites that take far longer than their size says, in seconds of their own. */
const LONG = {
  'test/redis/fleet.spec.ts': 28,
  'test/redis/service.spec.ts': 28,
  'test/pipeline/composition.spec.ts': 18,
  'test/testing/memoryBounds.spec.ts': 15,
  'test/cli/process.spec.ts': 15,
  'test/package/package.spec.ts': 14,
  'test/testing/memory.spec.ts': 10,
  'test/redis/sigtermOutage.spec.ts': 10,
  'test/pipeline/reliability.spec.ts': 9,
  'test/metrics/prometheus.spec.ts': 9,
  'test/pipeline/outage.spec.ts': 9,
  'test/pipeline/rotation.spec.ts': 7,
  'test/examples/examples.spec.ts': 7,
};

/**
 * Suites that mostly wait (real-time outages, grace periods, claim times): their CPU seconds,
 * child processes included, over their wall seconds, measured in a whole run on the idle
 * two-core machine (5 December 2026). Four workers share two cores, so the cores sit idle only
 * when three or four workers are in such suites at once; started in order of length alone they
 * did (composition, service and fleet at the start, prometheus, outage and rotation together
 * later: 20-46% idle for 8 s and 23% for 3 s of a 74 s run). Such a suite starts as if it were
 * shorter by the share it waits (its length times 0.4 + its share, at most its length), so
 * that it runs beside suites that keep the cores busy.
 */
const CPU_SHARE = {
  'test/redis/service.spec.ts': 0.35,
  'test/pipeline/composition.spec.ts': 0.1,
  'test/pipeline/reliability.spec.ts': 0.3,
  'test/metrics/prometheus.spec.ts': 0.19,
  'test/pipeline/outage.spec.ts': 0.25,
  'test/pipeline/rotation.spec.ts': 0.2,
  'test/cli/metricsPort.spec.ts': 0.23,
  'test/redis/redisWorker.spec.ts': 0.26,
  'test/cli/failFast.spec.ts': 0.19,
  'test/transport/oauth.spec.ts': 0.16,
};

/** About a second per 10 KB of test file, the rough rate of the suites not listed. */
const MS_PER_BYTE = 0.1;

class LongestFirst extends Sequencer {
  constructor(options) {
    super(options);
    /** Jest's workers (`maxWorkers`, 4 in jest.config.js; 1 with `--runInBand`). */
    this.workers = Math.max(1, options?.globalConfig?.maxWorkers ?? 4);
  }

  sort(tests) {
    const name = (test) => path.relative(root, test.path).split(path.sep).join('/');
    const length = (test) => {
      const recorded = this.time(test);
      if (recorded != null) return recorded;
      const listed = LONG[name(test)];
      if (listed != null) return listed * 1000;
      return (test.context.hasteFS.getSize(test.path) ?? 0) * MS_PER_BYTE;
    };
    const expected = (test) => length(test) * Math.min(1, 0.4 + (CPU_SHARE[name(test)] ?? 1));
    // Jest's progress estimate reads test.duration, as its own sequencer sets it.
    for (const test of tests) test.duration = this.time(test);
    const ms = new Map(tests.map((test) => [test, expected(test)]));
    const sorted = [...tests].sort((a, b) => {
      const [failedA, failedB] = [this.hasFailed(a), this.hasFailed(b)];
      if (failedA !== failedB) return failedA ? -1 : 1;
      return ms.get(b) - ms.get(a);
    });
    // Never three waiting suites at once: then at most two of the four workers wait and the other
    // two keep both cores busy. A position rule (never two waiting suites next to each other) was
    // not enough, since a waiting suite outlasts several short ones: the order is played out on
    // the workers with each suite's expected length, and when two waiting suites would be running,
    // the next suite is the longest busy one left. (The suites that failed last time stay first.)
    const waits = (test) => name(test) in CPU_SHARE;
    const order = sorted.filter((test) => this.hasFailed(test));
    const pending = sorted.filter((test) => !this.hasFailed(test));
    const running = order.map((test) => ({ end: length(test), waits: waits(test) }));
    let now = 0;
    while (pending.length > 0) {
      while (running.length >= this.workers) {
        now = Math.min(...running.map((r) => r.end));
        running.splice(
          running.findIndex((r) => r.end === now),
          1,
        );
      }
      const waitingNow = running.filter((r) => r.waits).length;
      const at = Math.max(
        0,
        pending.findIndex((test) => waitingNow < 2 || !waits(test)),
      );
      const [next] = pending.splice(at, 1);
      order.push(next);
      running.push({ end: now + length(next), waits: waits(next) });
    }
    return order;
  }
}

module.exports = LongestFirst;
