/** Helpers of the metrics tests: free ports, and the Prometheus text format read back. */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';

/** A loopback port free now (the tests that need one bind it soon after). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

/** A listener holding a loopback port, for the tests of a taken port. */
export async function takePort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address() as { port: number };
  return { port, release: () => new Promise<void>((r) => holder.close(() => r())) };
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The Prometheus text format, samples only. */
export function parseScrape(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples of `name` whose labels include `match`. */
export function series(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** `GET url`, or undefined when nothing answers there. */
export async function scrape(url: string): Promise<string | undefined> {
  return fetch(url).then(
    (r) => r.text(),
    () => undefined,
  );
}

/** Whether Debian's promtool is on the PATH (.ci/run installs it). */
export function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `athena-rx classify` of the shipped samples against `address`, results as JSON lines, then `extra`. */
export function classifySamples(address: string, ...extra: string[]): string[] {
  return ['classify', 'samples', '--address', address, '--insecure', '--format', 'jsonl', ...extra];
}

/** The first `n` images the server sees fail with `MODEL_ERROR` at every attempt. */
export function failFirstImages(server: { faults: { modelErrorFor(ids: (id: string) => boolean): void } }, n: number): void {
  const failing = new Set<string>();
  server.faults.modelErrorFor((id) => {
    if (failing.size < n) failing.add(id);
    return failing.has(id);
  });
}
