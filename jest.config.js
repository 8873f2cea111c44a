/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.test.ts'],
  transform: {
    // esbuild's transpile, not ts-jest's: see the file for why (cold runs, issue 23).
    '^.+\\.ts$': '<rootDir>/scripts/jest-transform.cjs',
  },
  // Four workers on CI's two cores: many loopback tests spend most of their time waiting (an
  // outage of the server, a Redis fleet's workers, child processes, the drop watch's grace), and
  // the extra workers keep the cores busy meanwhile. Measured on the idle two-core machine, jest
  // alone, warm, 5 December 2026, in interleaved runs: three workers 82.4, 82.0, 84.3 and 86.4 s;
  // four 76.9, 72.8, 75.5 and 75.1 s (and one 85.4 s while the VM ran slow: 157 CPU-s for the
  // usual 138-145). Earlier, two workers took 75 s of a smaller suite and three 56 s.
  maxWorkers: 4,
  // The longest suites first, also in a clean clone with no durations recorded (CI): see the file.
  testSequencer: '<rootDir>/scripts/jest-sequencer.cjs',
  // Jest's runtime, with V8's code cache kept between the test files of a worker: see the file.
  runtime: '<rootDir>/scripts/jest-runtime.cjs',
  testTimeout: 30000,
  // How long a worker may take to exit once told to (Jest's default is 500 ms). Measured on the
  // shared two-core machine (load 20): both workers emitted 'exit' within 0-1 ms of being told to
  // end, with nothing but their stdio/IPC pipes open, yet Jest warned "A worker process has failed
  // to exit gracefully": after 'exit', tearing down a process that holds about a gigabyte (the
  // image tests) took the kernel some 350 ms there, so a worker's last moments overran 500 ms. A
  // real leak (a timer, socket or child left running) keeps a worker alive for good and is still
  // reported, after this delay.
  workerGracefulExitTimeout: 5000,
};
