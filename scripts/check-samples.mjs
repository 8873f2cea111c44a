// `npm run check:samples`: every ```ts block in README.md, docs/ and the examples' READMEs, and
// every example of examples/ (JavaScript marked `// @ts-check`, with JSDoc types), compile against
// the package's public entry points, so that a user who copies one gets working code and an API
// change that breaks one fails `npm test` (test/examples/ runs the examples themselves).
//
// A static check, so it runs with the others in `npm run check` (which skips it when it passed on
// exactly these files before): it was a jest suite, and there it cost 5-6 CPU-seconds of every
// warm run (loading TypeScript into a test sandbox, then the programs).
//
// Each block is its own ES module (top-level await works, names do not collide). `athena-rx` and
// its subpaths resolve to the declarations of the built package, as a user's code sees them
// (`@internal` left out): dist/'s when it was built from the sources as they are, else the build
// the tests of the built package share (scripts/shared-build.mjs). A pass is remembered with a
// hash of those declarations and of the samples, so an edit inside a function body of src/ does
// not compile the samples again (7 CPU-s). The two programs share what they parse (lib,
// @types/node, the declarations), which is most of what each costs. Only the samples' own
// diagnostics are asked for.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { buildInputsHash, cachePath, contentHash, declarationsHash } from './cache.mjs';
import { currentBuild } from './shared-build.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The built package's declarations, for the sources as they are now. */
const declarations = join(await currentBuild(buildInputsHash()), 'cjs');

/**
 * `athena-rx` and its subpaths, resolved to the built package's declarations, in a Node.js
 * program: the ES2022 library and @types/node, as the project's own tsconfig.json (not the
 * default library of an ES2022 target, which adds the DOM's declarations: a sample that compiled
 * only through them would not compile in a Node.js project).
 */
const PUBLIC_API = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  typeRoots: [join(root, 'node_modules/@types')],
  baseUrl: root,
  paths: {
    'athena-rx': [join(declarations, 'index.d.ts')],
    'athena-rx/testing': [join(declarations, 'testing/index.d.ts')],
    'athena-rx/redis': [join(declarations, 'redis/index.d.ts')],
  },
};

/** Fenced TypeScript blocks of a markdown text, with the line each starts on. */
function extractSamples(markdown, file) {
  const samples = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^```(ts|typescript)\s*$/.test(lines[i].trim())) {
      const start = i + 1;
      const body = [];
      for (i = start; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
      samples.push({ file, line: start + 1, code: body.join('\n') });
    }
  }
  return samples;
}

function markdownFiles() {
  const files = [join(root, 'README.md')];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.md')) files.push(full);
    }
  };
  walk(join(root, 'docs'));
  walk(join(root, 'examples'));
  return files;
}

/**
 * A compiler host that parses each file once for both programs (they differ only in options). The
 * same as test/helpers/compilerHost.ts, which the package's tests use: that one is TypeScript for
 * jest, this one plain JavaScript for node, and a module shared by both would need declarations
 * that hide it from the type-aware lint.
 */
const parsed = new Map();
function parseOnceHost(options) {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    const key = `${fileName}\0${JSON.stringify(languageVersionOrOptions)}`;
    if (!parsed.has(key)) parsed.set(key, getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate));
    return parsed.get(key);
  };
  return host;
}

/** The problems the compiler finds in `files` themselves, as `where(file, line): message`. */
function problems(files, options, where) {
  const program = ts.createProgram(files, options, parseOnceHost(options));
  return files
    .map((name) => program.getSourceFile(name))
    .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
    .map((d) => {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${where(resolve(d.file.fileName), line)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

/**
 * What the verdict depends on: the declarations, the markdown files and examples, this script, the
 * exports and the installed packages (the lockfile: TypeScript's version and the types samples use).
 */
function inputsHash() {
  const own = [...markdownFiles(), ...readdirSync(join(root, 'examples')).map((f) => join(root, 'examples', f))]
    .filter((f) => /\.(md|mjs)$/.test(f))
    .map((f) => relative(root, f));
  const scripts = ['scripts/check-samples.mjs', 'package.json', 'package-lock.json'];
  return `${process.version}:${declarationsHash(declarations)}:${contentHash([...own, ...scripts])}`;
}

function main() {
  const passed = cachePath('check-samples-passed.txt');
  const inputs = inputsHash();
  if (existsSync(passed) && readFileSync(passed, 'utf8') === inputs) {
    process.stdout.write('the code samples and examples compile against the public API (unchanged since the last pass)\n');
    return;
  }
  const found = [];
  // The extractor itself: a check that found no block would pass whatever the docs say.
  const probe = extractSamples('text\n```ts\nconst a = 1;\n```\n```text\nnot code\n```\n', 'x.md');
  if (JSON.stringify(probe) !== JSON.stringify([{ file: 'x.md', line: 3, code: 'const a = 1;' }])) {
    found.push(`scripts/check-samples.mjs: the extractor is broken: ${JSON.stringify(probe)}`);
  }

  const samples = markdownFiles().flatMap((f) => extractSamples(readFileSync(f, 'utf8'), f));
  if (!samples.some((s) => s.file === join(root, 'README.md'))) found.push('README.md: no ```ts block found');
  // Inside the project, so that samples resolve `rxjs` and the other dependencies as a user's code would.
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'athena-rx-doc-samples-'));
  try {
    const names = samples.map((s, i) => {
      const name = join(dir, `sample${i}.mts`);
      writeFileSync(name, `${s.code}\nexport {};\n`);
      return name;
    });
    found.push(
      ...problems(names, { ...PUBLIC_API, types: ['node', 'jest'] }, (file, line) => {
        const sample = samples[names.indexOf(file)];
        return sample ? `${relative(root, sample.file)}:${sample.line + line}` : `${relative(root, file)}:${line + 1}`;
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const examples = readdirSync(join(root, 'examples'))
    .filter((f) => f.endsWith('.mjs'))
    .sort()
    .map((f) => join(root, 'examples', f));
  for (const f of examples) {
    if (!readFileSync(f, 'utf8').startsWith('// @ts-check\n')) found.push(`${relative(root, f)}:1: does not start with // @ts-check`);
  }
  found.push(
    ...problems(
      examples,
      { ...PUBLIC_API, allowJs: true, checkJs: true, types: ['node'] },
      (file, line) => `${relative(root, file)}:${line + 1}`,
    ),
  );

  if (found.length > 0) {
    process.stdout.write(`${found.join('\n')}\n`);
    process.exit(1);
  }
  writeFileSync(passed, inputs);
  process.stdout.write(`${samples.length} code samples and ${examples.length} examples compile against the public API\n`);
}

main();
