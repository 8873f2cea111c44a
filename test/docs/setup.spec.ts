import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One project setup for every page (issue 22): getting-started's ES-module samples in `.mts`
 * files, and testing.md's Jest files as CommonJS, in a package.json without `"type": "module"`
 * (with it, the Jest files fail: `module is not defined in ES module scope`). No page may advise
 * setting it.
 */
const root = path.resolve(__dirname, '../..');
const read = (page: string): string => fs.readFileSync(path.join(root, page), 'utf8');

describe('one project setup for getting-started and testing', () => {
  it.each(['docs/getting-started.md', 'docs/testing.md', 'README.md'])('%s does not advise "type": "module"', (page) => {
    const advice = read(page)
      .split(/\n\s*\n/)
      .filter((paragraph) => /"type": "module"/.test(paragraph))
      .filter((paragraph) => !/without `"type": "module"`|no `"type": "module"`|with `"type": "module"` they fail/.test(paragraph));
    expect(advice).toEqual([]);
  });

  it('getting-started puts the samples in .mts files and sends the Jest files to testing.md', () => {
    const page = read('docs/getting-started.md');
    expect(page).toMatch(/`\.mts` files/);
    expect(page).toMatch(/\(testing\.md\)/);
    expect(read('docs/testing.md')).toMatch(/no `"type": "module"` in package\.json/);
  });

  it('getting-started shows a first check before the pipeline', () => {
    expect(read('docs/getting-started.md')).toMatch(/await waitForReady\(client\);\n\nfrom\(/);
  });
});
