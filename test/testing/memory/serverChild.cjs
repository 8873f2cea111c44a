// A server in a process of its own, so that a test can read the server's RSS alone. Started by
// harness.ts with `fork`; options come as JSON in argv[2], and the path of the server's module
// (`testing/index.js` of the run's built dist/, see test/helpers/builtDist.ts) in argv[3]. It answers
// IPC messages:
//   { type: 'rss' }  -> { type: 'rss', rss, peak, heapUsed, external, arrayBuffers } (after a full GC)
//   { type: 'stats' } -> { type: 'stats', audit, deployments, connections } (audit records kept,
//                        `deployments()`, and the client connections (TCP sockets) still open)
//   { type: 'stop' } -> stops the server and exits.
// It samples its RSS every 10 ms and, past `killAboveBytes`, reports and exits at once, so that a
// regression fails the test instead of taking the machine's memory.
const { startAthenaServer } = require(process.argv[3]);

const gc = globalThis.gc;
/** @type {{ server: object, killAboveBytes: number }} */
const options = JSON.parse(process.argv[2] ?? '{}');
let peak = process.memoryUsage.rss();

const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
  if (rss > options.killAboveBytes) {
    process.send?.({ type: 'exceeded', rss, peak });
    process.exit(99);
  }
}, 10);

void startAthenaServer(options.server).then((server) => {
  process.send?.({ type: 'ready', address: server.address });
  process.on('message', (message) => {
    if (message.type === 'rss') {
      // Two collections: the first may only schedule finalizers that free native memory.
      gc?.();
      gc?.();
      const usage = process.memoryUsage();
      process.send?.({
        type: 'rss',
        rss: usage.rss,
        peak,
        heapUsed: usage.heapUsed,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
      });
    } else if (message.type === 'stats') {
      // The process holds no TCP socket but the server's accepted ones (IPC is a pipe).
      const connections = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      process.send?.({ type: 'stats', audit: server.audit.length, deployments: server.deployments(), connections });
    } else if (message.type === 'stop') {
      clearInterval(sampler);
      void server.stop().then(() => process.exit(0));
    }
  });
});
