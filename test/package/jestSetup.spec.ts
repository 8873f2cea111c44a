import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * docs/testing.md gives a Jest setup for a user's own project (jest.config.js and tsconfig.json,
 * after the markers `<!-- jest setup: FILE -->`). Here a scratch project gets exactly those files,
 * the page's own test files, and the package installed (a transpiled copy of this tree: ts-jest
 * with isolatedModules only transpiles, so no declarations are needed), and Jest runs them.
 */
describe('the Jest setup of docs/testing.md', () => {
  let pkg: PackageCopy;
  // The package's build may happen here, when dist/ is not current: about 10 s on the idle machine.
  beforeAll(async () => {
    pkg = await transpiledPackage();
  }, 120_000);
  afterAll(() => pkg?.remove());

  it("runs the page's test files in a project that installed the package", async () => {
    const markdown = fs.readFileSync(path.join(root, 'docs/testing.md'), 'utf8');
    const project = path.join(pkg.dir, '..', 'jest-project');
    fs.mkdirSync(path.join(project, 'test'), { recursive: true });
    fs.mkdirSync(path.join(project, 'node_modules'));
    // What `npm install --save-dev jest ts-jest typescript @types/node` gives, and the package.
    for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
      if (entry !== 'athena-rx' && !entry.startsWith('.'))
        fs.symlinkSync(path.join(root, 'node_modules', entry), path.join(project, 'node_modules', entry), 'dir');
    }
    fs.symlinkSync(pkg.dir, path.join(project, 'node_modules', 'athena-rx'), 'dir');
    fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "my-app", "private": true }\n');
    const files = [...markdown.matchAll(/<!-- jest setup: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
    expect(files).toEqual(['jest.config.js', 'tsconfig.json']);
    for (const m of markdown.matchAll(/<!-- jest setup: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g))
      fs.writeFileSync(path.join(project, m[1]!), m[2]! + '\n');
    // Every test file on the page (the ```ts blocks that import @jest/globals), as the user would save them.
    const tests = [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)]
      .map((m) => m[1]!)
      .filter((code) => code.includes("from '@jest/globals'"));
    expect(tests.length).toBeGreaterThanOrEqual(3);
    tests.forEach((code, i) => fs.writeFileSync(path.join(project, 'test', `sample${i}.test.ts`), code));
    const env = { ...process.env };
    delete env.JEST_WORKER_ID;
    const result = await run(process.execPath, [path.join(project, 'node_modules/jest/bin/jest.js'), '--ci', '--maxWorkers=1'], {
      cwd: project,
      env,
    }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: `${err.stderr ?? ''}` }));
    expect(result.stderr).toMatch(new RegExp(`Tests: +\\d+ passed, \\d+ total`));
    expect(result.stderr).not.toMatch(/failed|WARN/);
  }, 180_000);
});
