// Jest's module runtime with V8's code cache: each test file gets a fresh module registry, so a
// jest worker compiles rxjs, grpc-js and the library again for every test file it runs. Jest
// compiles a module with `vm.compileFunction`, which V8 does not cache between contexts: in a
// profile of the whole suite, compiling was a tenth of the workers' CPU (issue 23).
//
// Here a module is compiled as a `vm.Script` (its body inside a function, as jest's own runtime
// did before version 27). After a file's first run in this worker, its script's code cache
// (`createCachedData()`, which then holds the functions the run compiled too) is kept in memory
// and given to every later compile of the same source, so V8 skips parsing and compiling it.
// Nothing else changes: the same function is called with the same arguments, line numbers are
// the source's (the wrapper sits on a line of its own, `lineOffset: -1`), and a cache V8 rejects
// (another source, another V8) is only slower.
//
// Measured on the idle two-core machine, jest alone, warm, interleaved (5 December 2026, the CPU
// probe of docs/contributing.md at 522-543 CPU-ms throughout): with it 64.1, 65.1, 65.2 and 62.3 s,
// 118.5, 119.0, 116.0 and 114.5 CPU-s; with jest's compile 69.2, 68.9, 73.1 and 67.6 s, 129.1,
// 127.0, 131.4 and 126.1 CPU-s (leaving out a first pair, where the changed config refilled the
// transform cache for both).
//
// The caches take about 3 MB a worker in a whole run (some 900 files, 5-14 MB of source).
//
// It replaces the `compile` of jest-runtime 30's module executor. Where a jest version has no
// such method, jest's own compile runs: the suite is slower, not different.
'use strict';
const vm = require('node:vm');
const Runtime = require('jest-runtime').default;

/** filename -> the source compiled, and either the script of its first run or its code cache. */
const compiled = new Map();

/** Compiles a module's code as jest's `compile` does, with the code cache of earlier compiles. */
function compileCached(executor, jestCompile, source, filename) {
  const context = executor.environment.getVmContext();
  if (context == null || executor.resolution.isCoreModule(filename)) return jestCompile(source, filename);
  let entry = compiled.get(filename);
  if (entry && entry.source !== source) entry = undefined;
  if (entry && entry.script) {
    entry.data = entry.script.createCachedData();
    entry.script = undefined;
  }
  let script;
  try {
    script = new vm.Script(`(function (${executor.injectedModuleParameters.join(', ')}) {\n${source}\n})`, {
      filename,
      lineOffset: -1,
      cachedData: entry && entry.data,
      importModuleDynamically: (specifier, _script, importAttributes) =>
        executor.dynamicImport(specifier, filename, context, importAttributes),
    });
  } catch {
    // Jest's compile words the error (a syntax error, with its hints).
    return jestCompile(source, filename);
  }
  if (!entry || script.cachedDataRejected) compiled.set(filename, { source, script });
  return script.runInContext(context);
}

class CachingRuntime extends Runtime {
  constructor(...args) {
    super(...args);
    const executor = this.executor;
    if (typeof executor?.compile !== 'function' || !Array.isArray(executor.injectedModuleParameters)) return;
    const jestCompile = executor.compile.bind(executor);
    executor.compile = (source, filename) => compileCached(executor, jestCompile, source, filename);
  }
}

module.exports = CachingRuntime;
