import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtDist } from '../helpers/builtDist';

const root = path.resolve(__dirname, '../..');

/**
 * A copy of the package in a temporary folder, with `dist/` as `scripts/build.mjs` builds it from
 * the current sources, so that programs importing `athena-rx` by name (the examples) run against
 * this tree and never against a stale `dist/` (nor race other tests that read it).
 *
 * The build is shared (test/helpers/builtDist.ts): made once per content of the sources, or
 * taken from this clone's dist/ when that is current, and copied here (about 2 MB). Each suite
 * used to transpile the sources and load them in a child process to write the ES module facade.
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

  fs.cpSync(await builtDist(), path.join(dir, 'dist'), { recursive: true });
  if (options.selfContained) readableByAll(tmp);
  return { dir, remove: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}
