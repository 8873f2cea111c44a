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

/** About a second per 10 KB of test file, the rough rate of the suites not listed. */
const MS_PER_BYTE = 0.1;

class LongestFirst extends Sequencer {
  sort(tests) {
    const expected = (test) => {
      const recorded = this.time(test);
      if (recorded != null) return recorded;
      const listed = LONG[path.relative(root, test.path).split(path.sep).join('/')];
      if (listed != null) return listed * 1000;
      return (test.context.hasteFS.getSize(test.path) ?? 0) * MS_PER_BYTE;
    };
    // Jest's progress estimate reads test.duration, as its own sequencer sets it.
    for (const test of tests) test.duration = this.time(test);
    const ms = new Map(tests.map((test) => [test, expected(test)]));
    return [...tests].sort((a, b) => {
      const [failedA, failedB] = [this.hasFailed(a), this.hasFailed(b)];
      if (failedA !== failedB) return failedA ? -1 : 1;
      return ms.get(b) - ms.get(a);
    });
  }
}

module.exports = LongestFirst;
