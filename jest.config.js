/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.test.ts'],
  transform: {
    // esbuild's transpile, not ts-jest's: see the file for why (cold runs, issue 23).
    '^.+\\.ts$': '<rootDir>/scripts/jest-transform.cjs',
  },
  // Three workers on CI's two cores: several loopback tests spend most of their time waiting (an
  // outage of the server, a Redis fleet's workers, child processes), and a third worker keeps the
  // cores busy meanwhile. Measured on the idle two-core machine: 75 s of jest time with two
  // workers, 56 s with three, 53 s with four.
  maxWorkers: 3,
  // The longest suites first, also in a clean clone with no durations recorded (CI): see the file.
  testSequencer: '<rootDir>/scripts/jest-sequencer.cjs',
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
