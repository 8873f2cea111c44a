// The in-process Athena server (dist/cjs/testing) as a process of its own, for the benchmarks.
//
//   node bench/server.mjs [--latency MS] [--port N] [--tls DIR]
//
// --tls DIR serves TLS with DIR/cert.pem and DIR/key.pem (see `selfSignedCert()` in lib.mjs).
//
// Prints its address on the first stdout line (as `athena-rx serve` does), then answers one JSON
// line per command read from stdin: `latency MS` (sets the latency fault), `cpu` (this process's
// CPU ms so far). Stops when stdin ends.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { load } from './lib.mjs';

const { values } = parseArgs({
  options: { latency: { type: 'string', default: '0' }, port: { type: 'string', default: '0' }, tls: { type: 'string' } },
});
const { testing } = load();
const tls = values.tls ? { cert: readFileSync(join(values.tls, 'cert.pem')), key: readFileSync(join(values.tls, 'key.pem')) } : undefined;
const server = await testing.startAthenaServer({ port: Number(values.port), ...(tls ? { tls } : {}) });
server.faults.latency(Number(values.latency));
process.stdout.write(server.address + '\n');

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === 'latency') {
    server.faults.latency(Number(arg));
    process.stdout.write(JSON.stringify({ latency: Number(arg) }) + '\n');
  } else if (command === 'cpu') {
    const u = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpuMs: (u.user + u.system) / 1000 }) + '\n');
  } else {
    process.stdout.write(JSON.stringify({ error: `unknown command '${command}'` }) + '\n');
  }
});
lines.on('close', () => {
  void server.stop().then(() => process.exit(0));
});
