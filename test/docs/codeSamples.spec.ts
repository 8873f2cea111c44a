import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * Every ```ts block in README.md, docs/ and examples' READMEs must compile against the package's
 * public entry points, so that a user who copies one gets working code. Each block is its own
 * module; `athena-rx` and `athena-rx/testing` resolve to the sources.
 */
const root = path.resolve(__dirname, '../..');

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
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      types: ['node', 'jest'],
      typeRoots: [path.join(root, 'node_modules/@types')],
      baseUrl: root,
      paths: {
        'athena-rx': ['src/index.ts'],
        'athena-rx/testing': ['src/testing/index.ts'],
        'athena-rx/redis': ['src/redis/index.ts'],
      },
    };
    const host = ts.createCompilerHost(options);
    const program = ts.createProgram(names, options, host);
    // Only the samples' own diagnostics are reported, so only they are checked: the checker then
    // resolves what they use from src/ without checking every body of src/ (typecheck does that).
    const problems = names
      .map((name) => program.getSourceFile(name)!)
      .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
      .map((d) => {
        const index = names.indexOf(path.resolve(d.file!.fileName));
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        const sample = samples[index];
        return `${path.relative(root, sample.file)}:${sample.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(problems).toEqual([]);
  });
});
