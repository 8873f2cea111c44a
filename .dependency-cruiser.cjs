// Import layers of issue 10, checked by `npm run check:layers` (dependency-cruiser).
//
//   contract   the wire contract (messages, proto loading)     imports nothing of ours
//   core       codes, InvalidOptionError, the id validator     contract
//   preprocess decode, resize, hashes, encode                  contract, core
//   transport  channel, credentials, calls (knows gRPC)        contract, core
//   metrics    OpenTelemetry API instruments                   contract, core
//   testing    the in-process Athena server                    contract, core
//   operators  the Rx operators                                contract, core, preprocess, transport
//   redis      the Redis fleet                                 anything but cli
//   cli        the command line                                anything
//
// core -> contract is allowed: the two are the bottom pair (core's id rule reads the contract's
// MAX_ID_LENGTH). Type-only imports count: an upward `import type` couples the layers as much.

/** A rule: files under `layer` may import, of src/, only the layers listed (and their own). */
const layer = (name, may, comment) => ({
  name: `${name}-imports-only-${may.length ? may.join('-') : 'itself'}`,
  comment,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: `^src/(${[name, ...may].join('|')})/` },
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
    layer('contract', [], 'The wire contract is the bottom: everything may import it, it imports nothing of ours.'),
    layer('core', ['contract'], 'core is the shared bottom layer (codes, InvalidOptionError, ids); only the contract is below it.'),
    layer('preprocess', ['contract', 'core'], 'Preprocessing is pure image code shared by the client and the testing server.'),
    layer('transport', ['contract', 'core'], 'transport knows gRPC, not Rx pipelines.'),
    layer('metrics', ['contract', 'core'], 'Metrics instruments are used by every layer above, so they sit just above the bottom.'),
    layer('testing', ['contract', 'core'], 'The in-process server shares only the contract and the bottom layer with the client.'),
    layer(
      'operators',
      ['contract', 'core', 'preprocess', 'transport', 'metrics'],
      'Operators build on the layers below, never on cli, testing or redis.',
    ),
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
