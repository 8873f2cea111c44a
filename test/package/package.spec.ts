import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ts from 'typescript';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { parseOnceHost } from '../helpers/compilerHost';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * The package as a user installs it: built by the real build script (one build shared by the
 * suites that need it: test/helpers/builtDist.ts) in a temporary copy of the package, then loaded
 * by a consumer through `require`, `import` and the `athena-rx` bin. This is what "ESM and
 * CommonJS consumers both work" and "`npx athena-rx serve` answers from another process" mean.
 */
describe('the built package', () => {
  let copy: PackageCopy;
  let consumer: string;
  let pkg: string;

  beforeAll(async () => {
    // scripts/build.mjs's output, built once for all the suites that need it (or dist/ when current).
    copy = await transpiledPackage();
    pkg = copy.dir;
    consumer = path.join(pkg, '..', 'consumer');
    fs.mkdirSync(path.join(consumer, 'node_modules'), { recursive: true });
    fs.symlinkSync(pkg, path.join(consumer, 'node_modules', 'athena-rx'), 'dir');
  }, 120_000);

  afterAll(() => copy?.remove());

  const node = async (args: string[]): Promise<string> => (await run(process.execPath, args, { cwd: consumer })).stdout.trim();

  it('serves CommonJS consumers through require, with the testing entry', async () => {
    const out = await node([
      '-e',
      "const a = require('athena-rx'); const t = require('athena-rx/testing');" +
        'console.log(typeof a.createAthenaClient, typeof a.prepareImage, typeof t.startAthenaServer, a.ImageFormat.IMAGE_FORMAT_RAW_UINT8_BGR)',
    ]);
    expect(out).toBe('function function function 19');
  });

  it('serves ES module consumers through import, sharing one instance with require', async () => {
    fs.writeFileSync(
      path.join(consumer, 'esm.mjs'),
      [
        "import { createRequire } from 'node:module';",
        "import { AthenaTransportError, classify } from 'athena-rx';",
        "import { startAthenaServer } from 'athena-rx/testing';",
        'const required = createRequire(import.meta.url)("athena-rx");',
        'console.log(typeof classify, typeof startAthenaServer, AthenaTransportError === required.AthenaTransportError);',
      ].join('\n'),
    );
    expect(await node(['esm.mjs'])).toBe('function function true');
  });

  it('ships the WebAssembly resizer, and the built code uses it (not the slower JS fallback)', async () => {
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/preprocess/resize.wasm'))).toBe(true);
    const out = await node([
      '-e',
      `console.log(require(${JSON.stringify(path.join(pkg, 'dist/cjs/preprocess/resizeWasm.js'))}).resizeBackend().backend)`,
    ]);
    expect(out).toBe('wasm');
  });

  it('serves the redis entry to both module systems', async () => {
    fs.writeFileSync(
      path.join(consumer, 'redis.mjs'),
      "import { redisWorker, encodeJob } from 'athena-rx/redis';\nconsole.log(typeof redisWorker, encodeJob({ path: 'a.jpg' })[0]);\n",
    );
    expect(await node(['redis.mjs'])).toBe('function job');
    expect(await node(['-e', "console.log(typeof require('athena-rx/redis').enqueueJobs)"])).toBe('function');
  });

  it('ships type declarations for every entry', () => {
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/testing/index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/redis/index.d.ts'))).toBe(true);
    expect(fs.readFileSync(path.join(pkg, 'dist/esm/index.d.ts'), 'utf8')).toContain('../cjs/index.js');
  });

  it('ships no source maps (they pointed at src/*.ts, which is not shipped)', () => {
    const files = fs.readdirSync(path.join(pkg, 'dist'), { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    const js = files.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(pkg, 'dist', f), 'utf8'));
    expect(js.length).toBeGreaterThan(10);
    expect(js.filter((text) => text.includes('sourceMappingURL'))).toEqual([]);
  });

  // Every subpath in `exports` (`athena-rx/testing`, and any added later) must also resolve for
  // consumers whose TypeScript ignores `exports` (moduleResolution node10): `typesVersions`.
  const subpaths = (): { specifier: string; types: string }[] => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types?: string }>;
    };
    return Object.entries(manifest.exports)
      .filter(([key, target]) => key !== './package.json' && typeof target === 'object' && target.types)
      .map(([key, target]) => ({
        specifier: key === '.' ? 'athena-rx' : `athena-rx/${key.slice(2)}`,
        types: (target as { types: string }).types,
      }));
  };

  it('typesVersions maps every subpath export to the declarations its `exports` entry names', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      typesVersions: Record<string, Record<string, string[]>>;
    };
    const mapped = manifest.typesVersions['*'] ?? {};
    const expected = Object.fromEntries(
      subpaths()
        .filter((s) => s.specifier !== 'athena-rx')
        .map((s) => [s.specifier.slice('athena-rx/'.length), [s.types]]),
    );
    expect(mapped).toEqual(expected);
  });

  // The three resolutions share parsed declaration files (lib, @types/node, rxjs, grpc-js): parsing
  // them once instead of three times is most of the cost of these tests.
  it.each([
    // node10 is deprecated in TypeScript 6 (and gone in 7) but still what many projects use.
    [
      'node10',
      { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, ignoreDeprecations: '6.0' },
      ['consumer.ts'],
    ],
    ['node16', { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 }, ['consumer.mts', 'consumer.cts']],
    ['bundler', { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }, ['consumer.ts']],
  ] as const)('a TypeScript consumer under moduleResolution %s compiles against every entry point', (_name, resolution, files) => {
    const entries = subpaths();
    expect(entries.map((e) => e.specifier)).toEqual(expect.arrayContaining(['athena-rx', 'athena-rx/testing']));
    // Each entry's every export is used by name, so a missing declaration file (TS2307) or an
    // entry resolving to `any` fails, not just a missing module.
    const body = [
      ...entries.map((e, i) => `import * as entry${i} from '${e.specifier}';`),
      "import { classifyImages, type ClassificationResult } from 'athena-rx';",
      "import { startAthenaServer, type AthenaTestServer } from 'athena-rx/testing';",
      'export const server: () => Promise<AthenaTestServer> = () => startAthenaServer();',
      'export const pipeline = classifyImages;',
      'export type Result = ClassificationResult<string>;',
      ...entries.map((_e, i) => `export const keys${i}: string[] = Object.keys(entry${i});`),
      // Unused (an error) when the entries' types are `any`, i.e. unresolved. Split so that this
      // file's own compiler does not take it as a directive.
      '// @ts-' + 'expect-error a function is not a number',
      'export const notANumber: number = classifyImages;',
      '',
    ].join('\n');
    const dir = fs.mkdtempSync(path.join(consumer, `types-${_name}-`));
    const names = files.map((f) => path.join(dir, f));
    for (const name of names) fs.writeFileSync(name, body);
    const options: ts.CompilerOptions = {
      ...resolution,
      target: ts.ScriptTarget.ES2022,
      // A Node.js project's library (as this project's tsconfig.json), not the default of an ES2022
      // target, which adds the DOM's declarations: parsing them was a third of these tests' CPU.
      lib: ['lib.es2022.d.ts'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules/@types')],
    };
    const program = ts.createProgram(names, options, parseOnceHost(options));
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(problems).toEqual([]);
  });

  it('`athena-rx classify --samples` runs the demo from a project that installed the package', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [path.join(pkg, 'bin/athena-rx.js'), 'classify', '--samples', '--format', 'jsonl'],
      { cwd: consumer },
    );
    const records = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { file: string; outcome: string });
    expect(records.map((r) => r.file).sort()).toEqual(
      fs
        .readdirSync(path.join(root, 'samples'))
        .filter((f) => !f.endsWith('.md'))
        .map((f) => `samples/${f}`)
        .sort(),
    );
    expect(records.every((r) => r.outcome === 'success')).toBe(true);
    expect(stderr).toMatch(/weights are synthetic/);
  });

  it('`athena-rx serve` prints its address first and answers ListDeployments from another process', async () => {
    const server = spawn(process.execPath, [path.join(pkg, 'bin/athena-rx.js'), 'serve', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let buffered = '';
        server.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const newline = buffered.indexOf('\n');
          if (newline >= 0) resolve(buffered.slice(0, newline).trim());
        });
        server.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      const out = await node([
        '-e',
        "const { createAthenaClient, insecure } = require('athena-rx');" +
          'const c = createAthenaClient({ address: process.argv[1], credentials: insecure() });' +
          'c.listDeployments().then((r) => { console.log(JSON.stringify(r)); c.close(); });',
        address,
      ]);
      expect(JSON.parse(out)).toEqual({ deployments: [] });
    } finally {
      server.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) =>
      server.exitCode !== null ? resolve(server.exitCode) : server.once('exit', resolve),
    );
    expect(code).toBe(0);
  });
});
