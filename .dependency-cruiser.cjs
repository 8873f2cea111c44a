// Import layers of issue 10, checked by `npm run check:layers` (dependency-cruiser).
//
//   contract     the wire contract (messages, proto loading)   imports nothing of ours
//   core         codes, InvalidOptionError, the id validator   contract
//   reliability  the circuit breaker                           contract, core
//   preprocess   decode, resize, hashes, encode                contract, core
//   transport    channel, credentials, calls (knows gRPC)      contract, core
//   testing      the in-process Athena server                  contract, core
//   operators    the Rx operators                              contract, core, reliability, preprocess, transport
//   metrics      OpenTelemetry instruments over the pipeline's
//                events (an observer: nothing in the library
//                below it imports it)                          the layers above, but not testing, redis or cli
//   pipeline     the whole pipeline in one call (classifyImages,
//                classifyAll, classifyIterable): the stages
//                and their default metrics, as explicit imports  the layers above, but not testing, redis or cli
//   redis        the Redis fleet (athena-rx/redis)             anything but cli
//   cli          the command line                              anything
//
// core -> contract is allowed: the two are the bottom pair (core's id rule reads the contract's
// MAX_ID_LENGTH). Type-only imports count: an upward `import type` couples the layers as much.
// A new folder under src/ must be given a place here (rule every-folder-is-a-layer).

/** Each folder of src/ and the folders (besides its own) it may import; '.' is the root entry, src/index.ts. */
const LAYERS = {
  contract: [],
  core: ['contract'],
  reliability: ['contract', 'core'],
  preprocess: ['contract', 'core'],
  transport: ['contract', 'core'],
  testing: ['contract', 'core'],
  operators: ['contract', 'core', 'reliability', 'preprocess', 'transport'],
  metrics: ['contract', 'core', 'reliability', 'preprocess', 'transport', 'operators'],
  pipeline: ['contract', 'core', 'reliability', 'preprocess', 'transport', 'operators', 'metrics'],
  redis: ['.', 'contract', 'core', 'reliability', 'preprocess', 'transport', 'testing', 'operators', 'metrics', 'pipeline'],
  cli: ['.', 'contract', 'core', 'reliability', 'preprocess', 'transport', 'testing', 'operators', 'metrics', 'pipeline', 'redis'],
};

const WHY = {
  contract: 'The wire contract is the bottom: everything may import it, it imports nothing of ours.',
  core: 'core is the shared bottom layer (codes, InvalidOptionError, ids); only the contract is below it.',
  reliability: 'The circuit breaker is plain state over the bottom layer, for operators and metrics to use.',
  preprocess: 'Preprocessing is pure image code shared by the client and the testing server.',
  transport: 'transport knows gRPC, not Rx pipelines.',
  testing: 'The in-process server shares only the contract and the bottom layer with the client.',
  operators: 'Operators build on the layers below, never on metrics, testing, redis or cli.',
  metrics: 'Metrics observe the pipeline from above; the library below never depends on them.',
  pipeline: 'The one-call pipelines import their stages and their default metrics; no import registers anything.',
  redis: 'The Redis fleet is an adapter over the whole library, but not over the command line.',
  cli: 'The command line may use everything (best through the public API, src/index.ts).',
};

/** The paths a file under `name` may import, of src/. */
const allowed = (name) => {
  const folders = [name, ...LAYERS[name].filter((l) => l !== '.')];
  return [`^src/(${folders.join('|')})/`, ...(LAYERS[name].includes('.') ? ['^src/index\\.ts$'] : [])];
};

/** A rule: files under `name` may import, of src/, only the folders listed (and their own). */
const layer = (name) => ({
  name: `${name}-layer`,
  comment: `${WHY[name]} Allowed: ${LAYERS[name].join(', ') || 'nothing of ours'}.`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: allowed(name) },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes load order matter and the layers meaningless; break it with a lower module both can import.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...Object.keys(LAYERS).map(layer),
    {
      name: 'every-folder-is-a-layer',
      comment: 'A folder of src/ that is not in LAYERS has no rule yet: give it its place in .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: '^src/', pathNot: [`^src/(${Object.keys(LAYERS).join('|')})/`, '^src/index\\.ts$'] },
      to: {},
    },
    {
      name: 'only-cli-imports-cli',
      comment: 'The command line is built on the public API; nothing in the library depends on it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'root-entry-is-the-library',
      comment: "The root entry point ('.') must not pull in the separate entry points (./testing, ./redis) or the CLI.",
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/(cli|testing|redis)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
