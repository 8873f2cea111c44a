// `npm run check:ts`: the type check (`npm run typecheck`'s: tsc over tsconfig.json) and the
// type-aware lint (`npm run lint`'s: ESLint with eslint.config.mjs) on one TypeScript program, for
// `npm test` (`npm run check`). The same diagnostics and findings as the two scripts alone, sooner
// (issue 23):
//
// - One program, not two. tsc and typescript-eslint each parsed every file and asked the checker
//   about most of them: here ESLint's rules are given the program the type check has just checked
//   (typescript-eslint's `programs` option), so they find its answers already computed. Measured
//   cold on the idle two-core machine: 41 CPU-s for `tsc --noEmit` and `eslint .` one after the
//   other, 32 for the same on one program.
// - Incremental, and still sound for type-aware rules. ESLint's own --cache re-lints only the files
//   that changed, and so misses a finding that a change in one file causes in another (a function
//   that now returns a Promise makes its callers' un-awaited calls floating promises):
//   typescript-eslint advises against it. Here the type check is incremental (TypeScript's builder,
//   with its state in node_modules/.cache/athena-rx/), and the builder says which files' types may
//   have changed: those whose own text changed, and those that import a file whose declarations
//   (what an importer can see of it) changed, through as many files as the change reaches. A lint
//   finding of a file depends only on its own text and the types it sees, so the files linted are
//   the ones changed since the last clean run and the ones the builder re-checked; a change inside
//   a function body re-lints that one file, not every file that imports it. The plain JavaScript
//   (bench, examples, scripts, bin: parsed for types, not type-checked) is outside the builder:
//   a changed JavaScript file is linted with every JavaScript file that imports it.
//   Everything is linted when eslint.config.mjs, a tsconfig, package.json, the lockfile, this script or dist/'s
//   declarations (which the examples import as `athena-rx`) changed, and in a clean clone.
//
// The builder's state and the list of files that passed are written only when the lint found no
// error, so that a file re-checked this time stays to be linted until it passes.
//
//   node scripts/check-ts.mjs          check and lint what needs it
//   node scripts/check-ts.mjs --all    check and lint everything
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { cachePath, contentHash, filesUnder, root } from './cache.mjs';

const LINTED = /\.(ts|js|mjs|cjs)$/;
const JAVASCRIPT = /\.(js|mjs|cjs)$/;
/**
 * A change to any of these may change any file's findings. package.json: under `node16` its
 * `type` decides whether a file is an ES module, and its `exports` what `athena-rx` resolves to.
 */
const GLOBAL = ['eslint.config.mjs', 'tsconfig.json', 'tsconfig.eslint.json', 'package.json', 'package-lock.json', 'scripts/check-ts.mjs'];

/** The files `eslint .` lints: every .ts/.js/.mjs/.cjs that the config does not ignore. */
async function lintedFiles(eslint) {
  const all = [];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== '.git') walk(path);
      else if (entry.isFile() && LINTED.test(entry.name)) all.push(path);
    }
  };
  walk('');
  const ignored = await Promise.all(all.map((f) => eslint.isPathIgnored(join(root, f))));
  return all.filter((_, i) => !ignored[i]).sort();
}

/**
 * The linted files that `file` imports by a relative path, as TypeScript's scanner reads them
 * (`preProcessFile`, as scripts/check-layers.mjs does): every import, `export … from`, `import()`
 * and `require()`, and none inside a comment or a string.
 */
function importsOf(file, known) {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
  const found = [];
  for (const { fileName } of importedFiles) {
    if (!/^\.{1,2}\//.test(fileName)) continue;
    const base = relative(root, resolve(root, dirname(file), fileName));
    const stem = base.replace(/\.(js|mjs|cjs)$/, '');
    const candidates = [
      base,
      `${stem}.ts`,
      `${base}.ts`,
      `${base}.js`,
      `${base}.mjs`,
      `${base}.cjs`,
      `${base}/index.ts`,
      `${base}/index.js`,
    ];
    const hit = candidates.find((c) => known.has(c));
    if (hit) found.push(hit);
  }
  return found;
}

/** `changed` and every one of `files` that imports one of them, directly or through others. */
function withImporters(changed, files) {
  const known = new Set(files);
  const importers = new Map();
  for (const file of files) {
    for (const imported of importsOf(file, known)) {
      if (!importers.has(imported)) importers.set(imported, []);
      importers.get(imported).push(file);
    }
  }
  const out = new Set(changed);
  const queue = [...changed];
  while (queue.length > 0) {
    for (const importer of importers.get(queue.pop()) ?? []) {
      if (!out.has(importer)) {
        out.add(importer);
        queue.push(importer);
      }
    }
  }
  return [...out];
}

/** A tsconfig read as tsc reads it, with `overrides`; its own errors end the run, as tsc's would. */
function readConfig(file, overrides) {
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      process.stdout.write(ts.formatDiagnostics([d], formatHost));
      process.exit(1);
    },
  };
  return ts.getParsedCommandLineOfConfigFile(join(root, file), overrides, host);
}

const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };

const eslint = new ESLint({ cwd: root, warnIgnored: false });
const files = await lintedFiles(eslint);
const hashes = Object.fromEntries(files.map((f) => [f, contentHash([f])]));
const declarations = existsSync(join(root, 'dist')) ? filesUnder('dist').filter((f) => f.endsWith('.d.ts')) : [];
const key = contentHash([...GLOBAL.filter((f) => existsSync(join(root, f))), ...declarations]);

const statePath = cachePath('check-ts-state.json');
const buildInfo = cachePath('check-ts.tsbuildinfo');
let state = { key: '', files: {} };
if (!process.argv.includes('--all') && existsSync(statePath)) {
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch {
    // an unreadable state is no state: everything is linted
  }
}
const removed = Object.keys(state.files).some((f) => !(f in hashes));
const everything = state.key !== key || removed;
// Without a state that matches, the builder's own is not to be trusted either: check everything.
if (everything) rmSync(buildInfo, { force: true });

// The type check: tsconfig.json's program, incremental, nothing emitted but the builder's state.
// Declarations are emitted (and thrown away) so that the builder records each file's shape as the
// hash of its declarations: without an emit it records the hash of the whole text, and the first
// change to a file after a clean run would re-check everything that imports it, through every level.
const config = readConfig('tsconfig.json', {
  noEmit: false,
  emitDeclarationOnly: true,
  declarationMap: false,
  incremental: true,
  tsBuildInfoFile: buildInfo,
  outDir: cachePath('check-ts-declarations'),
});
const builder = ts.createIncrementalProgram({
  rootNames: config.fileNames,
  options: config.options,
  projectReferences: config.projectReferences,
  configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(config),
  host: ts.createIncrementalCompilerHost(config.options),
});
const program = builder.getProgram();
// Which files the builder checks again (their diagnostics were not kept): it asks the program for
// each one's binder and checker diagnostics, and for no other. Should a future TypeScript stop
// asking this way, a changed file would not be seen re-checked (each one always is): then all are linted.
const rechecked = new Set();
const bindAndCheck = program.getBindAndCheckDiagnostics;
program.getBindAndCheckDiagnostics = function (sourceFile, ...rest) {
  if (sourceFile) rechecked.add(relative(root, sourceFile.fileName));
  return bindAndCheck.call(this, sourceFile, ...rest);
};
const diagnostics = ts.sortAndDeduplicateDiagnostics([
  ...builder.getConfigFileParsingDiagnostics(),
  ...builder.getOptionsDiagnostics(),
  ...builder.getGlobalDiagnostics(),
  ...builder.getSyntacticDiagnostics(),
  ...builder.getSemanticDiagnostics(),
]);
const typeErrors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error).length;
if (diagnostics.length > 0) process.stdout.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost) + '\n');
const changed = files.filter((f) => state.files[f] !== hashes[f]);
const changedTs = changed.filter((f) => config.fileNames.includes(join(root, f)));
const all = everything || typeof bindAndCheck !== 'function' || !changedTs.every((f) => rechecked.has(f));
console.log(`typecheck: ${typeErrors} error(s) in ${config.fileNames.length} files (${rechecked.size} checked)`);

const toLint = all
  ? files
  : [
      ...new Set([
        ...changed,
        ...files.filter((f) => rechecked.has(f)),
        ...withImporters(
          changed.filter((f) => JAVASCRIPT.test(f)),
          files.filter((f) => JAVASCRIPT.test(f)),
        ),
      ]),
    ].sort();

let lintErrors = 0;
if (toLint.length === 0) {
  console.log(`lint: ${files.length} files, none changed or re-checked since the last clean run`);
} else {
  // The TypeScript files on the program just checked; the JavaScript, when some is to be linted,
  // on a program of its own (tsconfig.eslint.json: allowJs, not checked).
  const programs = [program];
  if (toLint.some((f) => JAVASCRIPT.test(f))) {
    const eslintConfig = readConfig('tsconfig.eslint.json', { noEmit: true });
    const javascript = eslintConfig.fileNames.filter((f) => JAVASCRIPT.test(f));
    programs.push(ts.createProgram({ rootNames: javascript, options: eslintConfig.options }));
  }
  const linter = new ESLint({ cwd: root, warnIgnored: false, overrideConfig: { languageOptions: { parserOptions: { programs } } } });
  const results = await linter.lintFiles(toLint.map((f) => join(root, f)));
  const report = await (await linter.loadFormatter('stylish')).format(results);
  if (report) console.log(report);
  lintErrors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
  const why = all ? '' : ` (${changed.length} changed, ${rechecked.size} re-checked by the type check)`;
  console.log(`lint: ${toLint.length} of ${files.length} files linted${why}`);
}

if (lintErrors === 0) {
  // The declarations only update the builder's record of each file's shape; its state is written.
  builder.emit(undefined, (name, text) => {
    if (name === buildInfo) writeFileSync(name, text);
  });
  writeFileSync(statePath, JSON.stringify({ key, files: hashes }));
}
process.exit(typeErrors + lintErrors > 0 ? 1 : 0);
