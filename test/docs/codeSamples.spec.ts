import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { parseOnceHost } from '../helpers/compilerHost';

/**
 * Every ```ts block in README.md, docs/ and examples' READMEs must compile against the package's
 * public entry points, so that a user who copies one gets working code. Each block is its own
 * module; `athena-rx` and `athena-rx/testing` resolve to the sources. The examples of examples/
 * are type-checked here too (below): the two programs share what they parse (lib, @types/node,
 * src/), which is most of what each costs.
 */
const root = path.resolve(__dirname, '../..');

/**
 * `athena-rx` and its subpaths, resolved to the sources, in a Node.js program: the ES2022 library
 * and @types/node, as the project's own tsconfig.json (not the default library of an ES2022 target,
 * which adds the DOM's declarations: parsing them was a third of this suite's CPU, and a sample that
 * compiled only through them would not compile in a Node.js project).
 */
const PUBLIC_API: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  typeRoots: [path.join(root, 'node_modules/@types')],
  baseUrl: root,
  paths: {
    'athena-rx': ['src/index.ts'],
    'athena-rx/testing': ['src/testing/index.ts'],
    'athena-rx/redis': ['src/redis/index.ts'],
  },
};

/**
 * The problems the compiler finds in `files` themselves, as `file:line: message`. Only their own
 * diagnostics are asked for, so only they are checked: the checker resolves what they use from
 * src/ without checking every body of src/ (the type check of `npm test` does that).
 */
function problems(files: string[], options: ts.CompilerOptions, where: (file: string, line: number) => string): string[] {
  const program = ts.createProgram(files, options, parseOnceHost(options));
  return files
    .map((name) => program.getSourceFile(name)!)
    .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${where(path.resolve(d.file!.fileName), line)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
}

function markdownFiles(): string[] {
  const files = [path.join(root, 'README.md')];
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.md')) files.push(full);
    }
  };
  walk(path.join(root, 'docs'));
  walk(path.join(root, 'examples'));
  return files;
}

interface Sample {
  file: string;
  line: number;
  code: string;
}

export function extractSamples(markdown: string, file: string): Sample[] {
  const samples: Sample[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^```(ts|typescript)\s*$/.test(lines[i].trim())) {
      const start = i + 1;
      const body: string[] = [];
      for (i = start; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
      samples.push({ file, line: start + 1, code: body.join('\n') });
    }
  }
  return samples;
}

describe('code samples in the docs', () => {
  it('finds fenced TypeScript blocks (the extractor itself works)', () => {
    const found = extractSamples('text\n```ts\nconst a = 1;\n```\n```text\nnot code\n```\n', 'x.md');
    expect(found).toEqual([{ file: 'x.md', line: 3, code: 'const a = 1;' }]);
  });

  it('every ```ts block compiles against the public API', () => {
    const samples = markdownFiles().flatMap((f) => extractSamples(fs.readFileSync(f, 'utf8'), f));
    // Inside the project, so that samples resolve `rxjs` and the other dependencies as a user's code would.
    const cache = path.join(root, 'node_modules', '.cache');
    fs.mkdirSync(cache, { recursive: true });
    const dir = fs.mkdtempSync(path.join(cache, 'athena-rx-doc-samples-'));
    const names = samples.map((s, i) => {
      const name = path.join(dir, `sample${i}.mts`);
      // Each block is an ES module of its own (top-level await works, names do not collide).
      fs.writeFileSync(name, `${s.code}\nexport {};\n`);
      return name;
    });
    const found = problems(names, { ...PUBLIC_API, types: ['node', 'jest'] }, (file, line) => {
      const sample = samples[names.indexOf(file)]!;
      return `${path.relative(root, sample.file)}:${sample.line + line}`;
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(found).toEqual([]);
  });
});

/**
 * The examples are JavaScript (runnable with plain `node`, no build step) marked `// @ts-check`
 * with JSDoc types: here they are type-checked against the public API as the sources declare it,
 * so that an API change that breaks an example fails the tests (test/examples/ runs them).
 */
describe('examples/ types', () => {
  it('type-check as JavaScript (// @ts-check) against the public API', () => {
    const files = fs
      .readdirSync(path.join(root, 'examples'))
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => path.join(root, 'examples', f));
    for (const f of files) expect(fs.readFileSync(f, 'utf8').startsWith('// @ts-check\n')).toBe(true);
    const found = problems(files, { ...PUBLIC_API, allowJs: true, checkJs: true, types: ['node'] }, (file, line) => {
      return `${path.relative(root, file)}:${line + 1}`;
    });
    expect(found).toEqual([]);
  });
});
