import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ts from 'typescript';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');

/**
 * A copy of the package in a temporary folder, with `dist/` made from the current sources, so
 * that programs importing `athena-rx` by name (the examples) run against this tree and never
 * against a stale `dist/` (nor race other tests that read it).
 *
 * The layout is the real build's (`dist/cjs` plus the `dist/esm` facade, as `scripts/build.mjs`
 * writes them), but the sources are transpiled file by file without type-checking: about a
 * second instead of a `tsc` run. Types are the job of `npm run typecheck` (the build does not
 * check them either).
 */
export interface PackageCopy {
  /** The package folder: `package.json`, `dist/`, `proto/`, `samples/`, `examples/`, `bin/`. */
  readonly dir: string;
  remove(): void;
}

export interface PackageCopyOptions {
  /**
   * For a program run as another user (the CLI as `nobody`, where a file permission is the point
   * of a test). By default `node_modules/` links back to this clone's, which another user cannot
   * reach when the clone sits in a folder only its owner may enter (root's home, a `mktemp -d`).
   * Self-contained, the copy has its own `node_modules/` with the package's runtime dependencies
   * (about 65 MB: the `dependencies` of package.json and theirs), and every file in it is
   * readable by all users whatever the umask was when the clone was made.
   */
  readonly selfContained?: boolean;
}

/** The runtime dependencies of the package, as folders under node_modules/: its `dependencies` and theirs. */
function runtimeDependencies(): string[] {
  const found = new Set<string>();
  const visit = (name: string): void => {
    const manifest = path.join(root, 'node_modules', name, 'package.json');
    // A dependency installed inside its dependent's own node_modules/ is copied along with it;
    // an optional one for another platform is not installed at all.
    if (found.has(name) || !fs.existsSync(manifest)) return;
    found.add(name);
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep);
  };
  const own = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(own.dependencies)) visit(dep);
  return [...found];
}

/** `chmod -R a+rX`: folders and files readable (and folders enterable) by every user. */
function readableByAll(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) readableByAll(full);
    else if (entry.isFile()) {
      const mode = fs.statSync(full).mode & 0o777;
      fs.chmodSync(full, mode | 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
  }
}

/**
 * Copies the tree at `from` to `to`, symlinks followed. A file every user may already read (and
 * run, if anyone may) is hard-linked where the file system allows it: no bytes copied, and
 * `readableByAll` has nothing to change on it (it would change the original too).
 */
function linkOrCopyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from)) {
    const [source, target] = [path.join(from, entry), path.join(to, entry)];
    const stat = fs.statSync(source);
    if (stat.isDirectory()) {
      linkOrCopyTree(source, target);
      continue;
    }
    const mode = stat.mode & 0o777;
    const openToAll = (mode & 0o444) === 0o444 && [0, 0o111].includes(mode & 0o111);
    try {
      if (!openToAll) throw new Error('copied: not readable by all');
      fs.linkSync(source, target);
    } catch {
      fs.copyFileSync(source, target);
    }
  }
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return [full];
  });
}

/**
 * `dist/` (`cjs/` and the `esm/` facade) transpiled from the current sources, made once and kept
 * in node_modules/.cache/athena-rx/transpiled/, keyed by the content of src/ (and of this file),
 * so that the suites of one run share one transpile (about 5 CPU-seconds, and a child process for
 * the facade) instead of making one each. An edit makes a new key; stale entries are removed.
 */
export async function transpiledDist(): Promise<string> {
  const src = path.join(root, 'src');
  const hash = createHash('sha256').update(fs.readFileSync(__filename)).update(ts.version);
  for (const file of sourceFiles(src).sort())
    hash
      .update(`${path.relative(src, file)}\0`)
      .update(fs.readFileSync(file))
      .update('\0');
  const key = hash.digest('hex').slice(0, 16);
  const cache = path.join(root, 'node_modules/.cache/athena-rx/transpiled');
  const done = path.join(cache, key);
  if (fs.existsSync(path.join(done, 'esm/package.json'))) return done;

  // Made aside and renamed into place whole: suites in other jest workers may be making it too.
  fs.mkdirSync(cache, { recursive: true });
  const dist = fs.mkdtempSync(path.join(cache, `${key}.tmp-`));
  try {
    await transpile(src, dist);
    fs.renameSync(dist, done);
  } catch (error) {
    fs.rmSync(dist, { recursive: true, force: true });
    if (!fs.existsSync(path.join(done, 'esm/package.json'))) throw error;
  }
  // Entries for other sources (older edits), left an hour ago or more: gone.
  for (const entry of fs.readdirSync(cache)) {
    const full = path.join(cache, entry);
    if (entry !== key && Date.now() - fs.statSync(full).mtimeMs > 3_600_000) fs.rmSync(full, { recursive: true, force: true });
  }
  return done;
}

/** Writes `dist/cjs` (transpiled file by file) and the `dist/esm` facade of `src` into `dist`. */
async function transpile(src: string, dist: string): Promise<void> {
  const cjs = path.join(dist, 'cjs');
  const compilerOptions: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    esModuleInterop: true,
    isolatedModules: true,
  };
  for (const file of sourceFiles(src)) {
    const relative = path.relative(src, file);
    if (!relative.endsWith('.ts') || relative.endsWith('.d.ts')) {
      // Assets beside the code (a .wasm module, say) go along, as a build that ships them must do.
      fs.mkdirSync(path.dirname(path.join(cjs, relative)), { recursive: true });
      fs.copyFileSync(file, path.join(cjs, relative));
      continue;
    }
    const out = path.join(cjs, relative.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions, fileName: file });
    fs.writeFileSync(out, outputText);
  }
  fs.writeFileSync(path.join(cjs, 'package.json'), '{ "type": "commonjs" }\n');
  // The ES module facade over the CommonJS code, named export by named export, as the build
  // writes it. Made by a child Node process: loading the package inside Jest's module registry
  // would give other instances than the programs under test load.
  const facade = `
    const { createRequire } = require('node:module');
    const fs = require('node:fs');
    const path = require('node:path');
    const dist = process.argv[1];
    fs.mkdirSync(path.join(dist, 'esm/testing'), { recursive: true });
    fs.mkdirSync(path.join(dist, 'esm/redis'), { recursive: true });
    fs.writeFileSync(path.join(dist, 'esm/package.json'), '{ "type": "module" }\\n');
    for (const entry of ['index', 'testing/index', 'redis/index']) {
      const mod = createRequire(path.join(dist, 'cjs/'))('./' + entry + '.js');
      const rel = '../'.repeat(entry.split('/').length) + 'cjs/' + entry + '.js';
      const names = Object.keys(mod).filter((n) => n !== 'default' && n !== '__esModule');
      const body = ["import cjs from '" + rel + "';", ...names.map((n) => 'export const ' + n + ' = cjs.' + n + ';'), 'export default cjs;', ''];
      fs.writeFileSync(path.join(dist, 'esm', entry + '.js'), body.join('\\n'));
    }`;
  // Run in the cache folder: the package's dependencies resolve from the clone's node_modules/.
  await run(process.execPath, ['-e', facade, dist], { cwd: dist });
}

export async function transpiledPackage(options: PackageCopyOptions = {}): Promise<PackageCopy> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-examples-'));
  const dir = path.join(tmp, 'athena-rx');
  fs.mkdirSync(dir);
  for (const entry of ['package.json', 'proto', 'samples', 'examples', 'bin']) {
    fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  }
  if (options.selfContained) {
    for (const dep of runtimeDependencies()) {
      linkOrCopyTree(path.join(root, 'node_modules', dep), path.join(dir, 'node_modules', dep));
    }
  } else {
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  }
  fs.cpSync(await transpiledDist(), path.join(dir, 'dist'), { recursive: true });
  if (options.selfContained) readableByAll(tmp);
  return { dir, remove: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}
