// The reviewed public surface (issue 10): one API report per entry point of package.json's
// `exports`, written by API Extractor from the declarations tsc emits for the build, and kept in
// etc/. A change to what a user can import shows up as a diff of those files in review.
//
//   npm run api:check    fails (exit 1) when a report differs from the code, with the diff
//   npm run api:update   rewrites the reports; commit them with the change that caused them
//
// The declarations are the build's: dist/cjs's when dist/ was built from the sources as they are
// now (scripts/build.mjs records a hash of what it built from; `npm ci` builds), else those of the
// build that the tests of the built package share (scripts/shared-build.mjs, in
// node_modules/.cache/athena-rx/), made once for both after an edit to src/. Either way the report
// sees exactly what the package ships, `stripInternal` included.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInputsHash, cachePath, contentHash, declarationsHash } from './cache.mjs';
import { currentBuild } from './shared-build.mjs';

const require = createRequire(import.meta.url);
const { CompilerState, Extractor, ExtractorConfig, ExtractorLogLevel } = require('@microsoft/api-extractor');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const update = process.argv.includes('--update');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const reportFolder = join(root, 'etc');

// '.' -> athena-rx.api.md, './testing' -> athena-rx-testing.api.md, from each entry's `types`.
// API Extractor's own notices about copying the report out of its temp folder: this script says
// updated/unchanged, or shows the diff and the line about api:update, instead.
const REPLACED = new Set(['console-api-report-not-copied', 'console-api-report-created', 'console-api-report-copied']);

const entries = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object' && target.types)
  .map(([subpath, target]) => {
    const parts = subpath
      .replace(/^\.\/?/, '')
      .split('/')
      .filter(Boolean);
    return { subpath, report: [pkg.name, ...parts].join('-') + '.api.md', dts: target.types.replace(/^\.\/dist\/cjs\//, '') };
  });

/**
 * The subpath entries (`athena-rx/redis`, `athena-rx/testing`) use types that belong to the root
 * entry (`ClassifyTransport`, `ErrorCode`, ...): the user imports those from `athena-rx`. API
 * Extractor knows one entry point per report, so it would take them for types the subpath forgot
 * to export and copy their definitions in. Here a subpath's declarations that import from outside
 * its own folder import from `athena-rx` instead, a copy of the declarations in a node_modules/
 * folder, which API Extractor treats as a dependency: the report then shows them as imports from
 * `athena-rx`. A name the root entry does not export fails the check as a compiler error, so a
 * subpath cannot use a type that no entry point exports.
 */
function linkSubpathsToRoot(dts, work) {
  const copy = join(work, 'node_modules', pkg.name);
  cpSync(dts, copy, { recursive: true });
  writeFileSync(join(copy, 'package.json'), JSON.stringify({ name: pkg.name, types: './index.d.ts' }));
  for (const entry of entries.filter((e) => e.subpath !== '.')) {
    const folder = dirname(join(dts, entry.dts));
    for (const name of readdirSync(folder, { recursive: true })) {
      if (!String(name).endsWith('.d.ts')) continue;
      const file = join(folder, String(name));
      const text = readFileSync(file, 'utf8').replace(/(from |import\()(['"])(\.\.?\/[^'"]*)\2/g, (whole, lead, quote, specifier) => {
        const target = resolve(dirname(file), specifier);
        return relative(folder, target).startsWith('..' + sep) ? `${lead}${quote}${pkg.name}${quote}` : whole;
      });
      writeFileSync(file, text);
    }
  }
  return join(copy, 'index.d.ts');
}

/**
 * What the check's verdict depends on besides the declarations: the reports, the exports, the
 * installed dependencies whose types the declarations name (the lockfile), this script, and API
 * Extractor's version. A pass is remembered with these and the sources (or the declarations they
 * give), so a second `npm test` with the public surface untouched skips the work (issue 23).
 * `--update` always runs.
 */
function verdictInputsHash() {
  const extractor = JSON.parse(readFileSync(require.resolve('@microsoft/api-extractor/package.json'), 'utf8')).version;
  const reports = readdirSync(reportFolder)
    .filter((f) => f.endsWith('.api.md'))
    .map((f) => `etc/${f}`)
    .sort();
  return `${extractor}:${contentHash([...reports, 'package.json', 'package-lock.json', 'scripts/api-report.mjs'])}`;
}

mkdirSync(reportFolder, { recursive: true });
const passedRecord = cachePath('api-check-passed.json');
/** The last pass: the hash of its sources and of its declarations, each with the other inputs of the verdict. */
function lastPass() {
  try {
    return JSON.parse(readFileSync(passedRecord, 'utf8'));
  } catch {
    return {};
  }
}
// Read once: every source file is hashed.
const built = buildInputsHash();
const verdict = verdictInputsHash();
const inputs = `${built}:${verdict}`;
const passed = update ? {} : lastPass();
if (passed.sources === inputs) {
  console.log('every entry point matches etc/ (the sources unchanged since the last passing check)');
  process.exit(0);
}
const cjs = join(await currentBuild(built), 'cjs');
const declared = `declarations:${declarationsHash(cjs)}:${verdict}`;
if (passed.declarations === declared) {
  writeFileSync(passedRecord, JSON.stringify({ sources: inputs, declarations: declared }));
  console.log('every entry point matches etc/ (the declarations unchanged since the last passing check)');
  process.exit(0);
}
// In the package's git-ignored tmp/, so that the declarations resolve rxjs and @grpc/grpc-js from
// node_modules/ (not inside node_modules/, where API Extractor would take them for a dependency's),
// in a folder of its own per run.
mkdirSync(join(root, 'tmp'), { recursive: true });
const work = mkdtempSync(join(root, 'tmp', 'api-report-'));
try {
  // A copy: linkSubpathsToRoot (below) rewrites the subpath declarations.
  const dts = join(work, 'dts');
  cpSync(cjs, dts, { recursive: true, filter: (src) => !src.endsWith('.js') });
  const rootTypes = linkSubpathsToRoot(dts, work);
  const entryFiles = entries.map((entry) => join(dts, entry.dts));
  const configs = entries.map((entry, i) =>
    ExtractorConfig.prepare({
      configObjectFullPath: join(root, 'api-extractor.json'), // (not a file: where relative paths start)
      packageJsonFullPath: join(root, 'package.json'),
      configObject: {
        projectFolder: root,
        mainEntryPointFilePath: entryFiles[i],
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              target: 'ES2022',
              lib: ['ES2022'],
              module: 'node16',
              moduleResolution: 'node16',
              types: ['node'],
              paths: { [pkg.name]: [rootTypes] },
              strict: true,
              esModuleInterop: true,
            },
            files: entryFiles,
          },
        },
        newlineKind: 'lf',
        enumMemberOrder: 'preserve',
        apiReport: { enabled: true, reportFileName: entry.report, reportFolder, reportTempFolder: join(work, 'report') },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          compilerMessageReporting: { default: { logLevel: 'error' } },
          // Findings (a public type that names an unexported one, a broken {@link}) are written
          // into the report, where review sees them, rather than failing the check.
          extractorMessageReporting: {
            default: { logLevel: 'none', addToApiReportFile: true },
            // Everything exported is public unless marked @internal: no @alpha/@beta tiers.
            'ae-missing-release-tag': { logLevel: 'none', addToApiReportFile: false },
            'ae-internal-missing-underscore': { logLevel: 'none', addToApiReportFile: false },
            'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
          },
          tsdocMessageReporting: { default: { logLevel: 'none' } },
        },
      },
    }),
  );
  // One TypeScript program for every entry point, instead of one each.
  const compilerState = CompilerState.create(configs[0], { additionalEntryPoints: entryFiles });

  let failed = false;
  entries.forEach((entry, i) => {
    const messages = [];
    const result = Extractor.invoke(configs[i], {
      localBuild: update,
      compilerState,
      showVerboseMessages: false,
      messageCallback: (message) => {
        const shown = message.logLevel === ExtractorLogLevel.Error || message.logLevel === ExtractorLogLevel.Warning;
        if (shown && !REPLACED.has(message.messageId)) messages.push(message);
        message.handled = true;
      },
    });
    for (const m of messages) console.error(`${entry.subpath}: ${m.logLevel}: ${m.formatMessageWithLocation(root)}`);
    const reportPath = join(reportFolder, entry.report);
    if (update) {
      console.log(`${entry.subpath}: ${result.apiReportChanged ? 'updated' : 'unchanged'} etc/${entry.report}`);
    } else if (result.apiReportChanged) {
      failed = true;
      console.error(`${entry.subpath}: the public API differs from etc/${entry.report}:`);
      const fresh = join(work, 'report', entry.report);
      if (existsSync(reportPath)) {
        try {
          execFileSync('diff', ['-u', reportPath, fresh], { stdio: 'inherit' });
        } catch {
          // diff exits 1 when the files differ, which is the case here
        }
      } else {
        console.error(`  (no etc/${entry.report} yet)`);
      }
    } else {
      console.log(`${entry.subpath}: matches etc/${entry.report}`);
    }
    if (result.errorCount > 0) failed = true;
  });
  if (failed) {
    console.error('\nIf the change to the public API is intended, run `npm run api:update` and commit etc/.');
    process.exitCode = 1;
  } else if (!update) {
    writeFileSync(passedRecord, JSON.stringify({ sources: inputs, declarations: declared }));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
