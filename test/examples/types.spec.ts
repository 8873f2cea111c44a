import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The examples are JavaScript (runnable with plain `node`, no build step) marked `// @ts-check`
 * with JSDoc types: here they are type-checked against the public API as the sources declare it
 * (`athena-rx` and `athena-rx/testing` map to src/), so that an API change that breaks an example
 * fails the tests. A file of its own so that Jest runs it beside the slower run of the examples.
 */
const root = path.resolve(__dirname, '../..');
const EXAMPLES = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.mjs'));

describe('examples/ types', () => {
  it('type-check as JavaScript (// @ts-check) against the public API', () => {
    const files = EXAMPLES.map((f) => path.join(root, 'examples', f));
    for (const f of files) expect(fs.readFileSync(f, 'utf8').startsWith('// @ts-check\n')).toBe(true);
    const options: ts.CompilerOptions = {
      allowJs: true,
      checkJs: true,
      noEmit: true,
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      esModuleInterop: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules/@types')],
      baseUrl: root,
      paths: { 'athena-rx': ['src/index.ts'], 'athena-rx/testing': ['src/testing/index.ts'], 'athena-rx/redis': ['src/redis/index.ts'] },
    };
    const program = ts.createProgram(files, options);
    // Only the examples' own diagnostics are reported, so only they are checked: the checker then
    // resolves what they use from src/ without checking every body of src/ (typecheck does that).
    const problems = files
      .map((name) => program.getSourceFile(name)!)
      .flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `${path.relative(root, d.file!.fileName)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  });
});
