import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import { classifierServiceDefinition } from '../contract/load';
import type {
  ClassificationInput,
  ClassificationOutput,
  ClassifyRequest,
  ClassifyResponse,
  ErrorCode,
  ImageHash,
  ListDeploymentsResponse,
} from '../contract/messages';
import { systemClock, type Clock } from './clock';
import { classifyInput, idProblem, rejected, type InputContext } from './classifyInput';
import { AthenaTestingError } from './errors';
import { FaultState, type Faults } from './faults';

const MiB = 1024 * 1024;

/** Defaults of {@link AthenaServerOptions}, exported so tests and docs can refer to them. */
export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  /** Larger than any 448x448 image needs (raw is 588 KiB), small enough to refuse junk. */
  maxImageBytes: 10 * MiB,
  responseTtlMs: 60 * 60 * 1000,
  deploymentIdleMs: 24 * 60 * 60 * 1000,
  /** 50 raw images are about 30 MB; twice that leaves room for encoded or hashed extras. */
  maxMessageBytes: 64 * MiB,
  /** Most audit records kept; the oldest are dropped beyond it so long benchmarks stay bounded. */
  auditLimit: 100_000,
  /** Most responses waiting in one deployment's backlog; the oldest are purged beyond it. */
  maxBacklog: 10_000,
  /**
   * HTTP/2 receive window, per stream and for the connection. Real gRPC servers grow theirs to
   * megabytes (Go and C-core by BDP probing up to 16 MiB, Java starts at 1 MiB); grpc-js servers
   * stay at HTTP/2's 64 KiB, which makes a client wait for a WINDOW_UPDATE every 32 KiB of a
   * 19 MB request and costs each side 0.7 to 1 ms more CPU per image (docs/performance.md).
   */
  flowControlWindow: 16 * MiB,
  /** Requests of one stream classified at the same time; reading pauses beyond it (back-pressure). */
  maxInFlightPerStream: 8,
  /** Responses one stream may hold while its client does not read; further ones go to other streams or the backlog. */
  maxQueuedPerStream: 16,
  /** How long `stop()` lets calls finish before closing connections. */
  stopGraceMs: 1000,
} as const;

/** Options of {@link startAthenaServer}. Every field is optional. */
export interface AthenaServerOptions {
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Port; `0` (default) picks a free one, read it from `server.port`. */
  port?: number;
  /** PEM certificate chain and private key (contents, not paths): TLS when given, plaintext otherwise. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** Time source for expiry. Default: real time. Pass a `ManualClock` to advance time in tests. */
  clock?: Clock;
  /**
   * Accepted bearer tokens, each with the affiliates it may use (`'*'` for any). When set, every
   * call needs `authorization: Bearer <token>` with one of them, else `UNAUTHENTICATED`.
   * Absent (default): no authentication and any affiliate.
   */
  tokens?: Record<string, string[] | '*'>;
  /** Largest `data` (as sent, before Brotli decoding) accepted; larger gets `IMAGE_TOO_LARGE`. Default 10 MiB. Also caps Brotli output. */
  maxImageBytes?: number;
  /** Hashes that match: `KnownCSAM-MD5` / `KnownCSAM-SHA1` weigh 1.0 for these (lower-case hex). */
  knownHashes?: { md5?: string[]; sha1?: string[] };
  /** Undelivered responses older than this are purged. Default 1 hour. */
  responseTtlMs?: number;
  /** A deployment with no stream joined and no request for this long is removed. Default 24 hours. */
  deploymentIdleMs?: number;
  /** gRPC receive and send message limit. Default 64 MiB (50 raw images need about 30 MB). */
  maxMessageBytes?: number;
  /** Most audit records kept (oldest dropped first). Default 100,000. */
  auditLimit?: number;
  /**
   * Most responses one deployment's backlog holds; beyond it the oldest are purged, as if they had
   * expired (modelled: the contract bounds the backlog by time only). Default 10,000.
   */
  maxBacklog?: number;
  /**
   * HTTP/2 flow-control window the server grants, per stream and for the connection, in bytes
   * (65,535 to 2^31 - 1). Default 16 MiB, like a real gRPC server after BDP probing; 65,535 is
   * HTTP/2's and grpc-js's default.
   */
  flowControlWindow?: number;
}

/** Metadata the server keeps for each image it was sent; never the image bytes. */
export interface AuditRecord {
  /** `clock.now()` when the image was answered. */
  readonly time: number;
  /** `null` for `ClassifySingle`. */
  readonly deploymentId: string | null;
  readonly affiliate: string;
  readonly correlationId: string;
  readonly hashes: readonly ImageHash[];
  /** Length of `data` as sent (before Brotli decoding). */
  readonly byteSize: number;
  /** `'ok'` when classified, else the error code sent for it. */
  readonly outcome: 'ok' | ErrorCode;
}

/** One deployment as the server sees it. */
export interface DeploymentInfo {
  deploymentId: string;
  /** Responses waiting for a stream (what `ListDeployments` reports). */
  backlog: number;
  /** `Classify` streams joined now. */
  streams: number;
  /** Responses purged undelivered so far: expired (`responseTtlMs`) or beyond `maxBacklog`. */
  purged: number;
}

/** A running in-process server, with handles for tests. */
export interface AthenaTestServer {
  /** `host:port`, ready for a client's address option. */
  readonly address: string;
  readonly port: number;
  /**
   * Ends open `Classify` streams with `UNAVAILABLE` ("server stopping"), lets calls finish, and
   * closes remaining connections after a short grace (1 s). Safe to call twice.
   */
  stop(): Promise<void>;
  readonly clock: Clock;
  readonly faults: Faults;
  /** One record per image answered, oldest first (bounded by `auditLimit`). */
  readonly audit: readonly AuditRecord[];
  deployments(): DeploymentInfo[];
  /** Purges expired responses and idle deployments now. Runs by itself on a timer (real clock) or on each `ManualClock.advance`. */
  sweep(): void;
}

type ClassifyCall = grpc.ServerDuplexStream<ClassifyRequest, ClassifyResponse>;

/** A response on its way to a client, with the correlation ids it releases once written. */
interface Pending {
  readonly response: ClassifyResponse;
  readonly at: number;
  readonly ids: readonly string[];
}

class Deployment {
  readonly streams: Stream[] = [];
  private next = 0;
  backlog: Pending[] = [];
  /** Correlation ids being classified or waiting for delivery: a new image may not reuse them. */
  readonly outstanding = new Set<string>();
  /** Responses purged undelivered (expired or beyond the backlog bound). */
  purged = 0;
  removed = false;

  constructor(
    readonly id: string,
    public lastActivity: number,
    private readonly maxBacklog: number,
  ) {}

  /** Competing consumers: the next joined stream in turn that has room, else the backlog. */
  deliver(p: Pending): void {
    if (this.removed) return;
    const n = this.streams.length;
    for (let k = 0; k < n; k++) {
      const index = (this.next + k) % n;
      const stream = this.streams[index];
      if (stream.canAccept()) {
        this.next = (index + 1) % n;
        stream.push(p);
        return;
      }
    }
    this.backlog.push(p);
    // Bounded memory with no stream joined: the oldest waiting response goes first, as on expiry.
    if (this.backlog.length > this.maxBacklog) {
      this.release(this.backlog.shift()!.ids);
      this.purged += 1;
    }
  }

  /** Moves backlog to `stream` while it has room (on join and when it drains). */
  pump(stream: Stream): void {
    while (this.backlog.length > 0 && stream.canAccept()) stream.push(this.backlog.shift()!);
  }

  release(ids: readonly string[]): void {
    for (const id of ids) this.outstanding.delete(id);
  }
}

class Stream {
  deployment: Deployment | undefined;
  /** The deployment id of the first request: every later request must repeat it. */
  deploymentId: string | undefined;
  readonly queue: Pending[] = [];
  blocked = false;
  closed = false;
  halfClosed = false;
  inFlight = 0;
  resetAt: number | undefined;
  sinceArmed = 0;

  constructor(
    readonly call: ClassifyCall,
    readonly affiliates: readonly string[] | '*',
    private readonly maxQueued: number,
  ) {}

  /** A half-closed stream still takes responses: its client reads until the call ends. */
  canAccept(): boolean {
    return !this.closed && this.queue.length < this.maxQueued;
  }

  /** Writes now unless the call pushes back; then queues until `drain`. */
  push(p: Pending): void {
    if (this.blocked || this.queue.length > 0) this.queue.push(p);
    else this.write(p);
  }

  private write(p: Pending): void {
    const ok = this.call.write(p.response);
    this.deployment?.release(p.ids);
    if (!ok) {
      this.blocked = true;
      this.call.once('drain', () => this.onDrain());
    }
  }

  private onDrain(): void {
    this.blocked = false;
    while (!this.blocked && !this.closed && this.queue.length > 0) this.write(this.queue.shift()!);
    if (!this.blocked && !this.closed) this.afterDrain();
  }

  /** Set by the server: pull backlog, finish a half-closed stream. */
  afterDrain: () => void = () => {};
}

function bearer(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match?.[1];
}

/**
 * Grants every HTTP/2 session of `server` a `window`-byte receive window, per stream (SETTINGS)
 * and for the connection (WINDOW_UPDATE). grpc-js servers expose neither their HTTP/2 servers
 * nor their sessions, so this reaches for the private `http2Servers` map; should a grpc-js
 * release rename it, sessions keep HTTP/2's 64 KiB window: slower, never wrong.
 */
function grantWindow(server: grpc.Server, window: number): void {
  if (window <= 65_535) return;
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return;
  for (const http2Server of http2Servers.keys() as Iterable<EventEmitter>) {
    http2Server.on('session', (session: Http2Session) => {
      session.settings({ initialWindowSize: window });
      session.setLocalWindowSize(window);
    });
  }
}

function checkOptions(o: AthenaServerOptions): void {
  const positive = (name: keyof AthenaServerOptions, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new AthenaTestingError('INVALID_OPTION', `${name} must be a positive number, got ${v}`);
  };
  positive('maxImageBytes', o.maxImageBytes);
  positive('responseTtlMs', o.responseTtlMs);
  positive('maxBacklog', o.maxBacklog);
  positive('deploymentIdleMs', o.deploymentIdleMs);
  positive('maxMessageBytes', o.maxMessageBytes);
  positive('auditLimit', o.auditLimit);
  const w = o.flowControlWindow;
  if (w !== undefined && !(Number.isInteger(w) && w >= 65_535 && w <= 2 ** 31 - 1)) {
    throw new AthenaTestingError('INVALID_OPTION', `flowControlWindow must be an integer 65535..2147483647, got ${w}`);
  }
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535)) {
    throw new AthenaTestingError('INVALID_OPTION', `port must be an integer 0..65535, got ${o.port}`);
  }
  if (o.tls && (!o.tls.cert || !o.tls.key)) throw new AthenaTestingError('INVALID_OPTION', 'tls needs both cert and key');
}

/**
 * Starts an in-process Athena-compatible gRPC server: the three RPCs of the contract, its
 * validation rules, deployments with competing consumers and backlog, token checks, the benign
 * classifier, audit records and fault injection.
 *
 * Use it in your own tests to run a client against real gRPC on loopback without the live
 * service; advance a `ManualClock` to test expiry.
 *
 * @example
 * const server = await startAthenaServer({ clock: new ManualClock() });
 * // ... point a client at server.address (plaintext) ...
 * server.faults.modelErrorFor(['img-3'], 1); // first attempt of img-3 fails, its retry succeeds
 * await server.stop();
 *
 * @param options see {@link AthenaServerOptions}; every field is optional.
 * @throws AthenaTestingError `INVALID_OPTION` for a bad option, `BIND_FAILED` when it cannot listen.
 */
export async function startAthenaServer(options: AthenaServerOptions = {}): Promise<AthenaTestServer> {
  checkOptions(options);
  const host = options.host ?? SERVER_DEFAULTS.host;
  const clock = options.clock ?? systemClock;
  const maxMessageBytes = options.maxMessageBytes ?? SERVER_DEFAULTS.maxMessageBytes;
  const responseTtlMs = options.responseTtlMs ?? SERVER_DEFAULTS.responseTtlMs;
  const maxBacklog = options.maxBacklog ?? SERVER_DEFAULTS.maxBacklog;
  const flowControlWindow = options.flowControlWindow ?? SERVER_DEFAULTS.flowControlWindow;
  const deploymentIdleMs = options.deploymentIdleMs ?? SERVER_DEFAULTS.deploymentIdleMs;
  const auditLimit = options.auditLimit ?? SERVER_DEFAULTS.auditLimit;
  const tokens = options.tokens;
  const faults = new FaultState();
  const ctx: InputContext = {
    maxImageBytes: options.maxImageBytes ?? SERVER_DEFAULTS.maxImageBytes,
    knownMd5: new Set(options.knownHashes?.md5 ?? []),
    knownSha1: new Set(options.knownHashes?.sha1 ?? []),
    faults,
  };
  const deployments = new Map<string, Deployment>();
  const streams = new Set<Stream>();
  const audit: AuditRecord[] = [];
  const delays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let stopping = false;

  const record = (deploymentId: string | null, input: ClassificationInput, output: ClassificationOutput) => {
    audit.push({
      time: clock.now(),
      deploymentId,
      affiliate: input.affiliate,
      correlationId: input.correlationId,
      hashes: (input.hashes ?? []).map((h) => ({ value: h.value, type: h.type })),
      byteSize: input.data?.length ?? 0,
      outcome: output.error ? output.error.code : 'ok',
    });
    // Trim in chunks so that a long run does not pay a shift per image.
    if (audit.length > auditLimit + Math.max(1, auditLimit >> 4)) audit.splice(0, audit.length - auditLimit);
  };

  const delay = (ms: number) =>
    ms <= 0 || stopping
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const entry = { timer: setTimeout(() => (delays.delete(entry), resolve()), ms), resolve };
          delays.add(entry);
        });

  /** Checks the token; returns the affiliates it allows, or a status to fail the call with. */
  const authorize = (metadata: grpc.Metadata): { affiliates: readonly string[] | '*' } | grpc.StatusObject => {
    if (faults.takeUnavailable()) return { code: grpc.status.UNAVAILABLE, details: 'unavailable (fault injection)', metadata: new grpc.Metadata() };
    if (!tokens) return { affiliates: '*' };
    const token = bearer(metadata);
    const affiliates = token === undefined ? undefined : Object.prototype.hasOwnProperty.call(tokens, token) ? tokens[token] : undefined;
    if (!affiliates) {
      return {
        code: grpc.status.UNAUTHENTICATED,
        details: token === undefined ? 'missing authorization: Bearer <token> metadata' : 'unknown bearer token',
        metadata: new grpc.Metadata(),
      };
    }
    return { affiliates };
  };

  const permitted = (affiliates: readonly string[] | '*', affiliate: string) => affiliates === '*' || affiliates.includes(affiliate);

  const leave = (s: Stream) => {
    const d = s.deployment;
    if (!d) return;
    s.deployment = undefined;
    const at = d.streams.indexOf(s);
    if (at >= 0) d.streams.splice(at, 1);
    d.lastActivity = clock.now();
    // Responses this stream had not yet written go back, in order, for another stream or a reconnect.
    d.backlog.unshift(...s.queue.splice(0));
    for (const other of d.streams) d.pump(other);
  };

  const close = (s: Stream) => {
    if (s.closed) return;
    leave(s);
    s.closed = true;
    streams.delete(s);
  };

  const abort = (s: Stream, code: grpc.status, details: string) => {
    if (s.closed) return;
    close(s);
    s.call.emit('error', { code, details, metadata: new grpc.Metadata() });
  };

  const updateFlow = (s: Stream) => {
    if (s.closed) return;
    const pause = faults.readingPaused || s.inFlight >= SERVER_DEFAULTS.maxInFlightPerStream;
    if (pause && !s.call.isPaused()) s.call.pause();
    else if (!pause && s.call.isPaused()) s.call.resume();
  };
  faults.onReadingChange = () => streams.forEach(updateFlow);

  /** A half-closed stream ends (status OK) once its own requests are answered and written. */
  const maybeFinish = (s: Stream) => {
    if (s.closed || !s.halfClosed || s.inFlight > 0 || s.queue.length > 0) return;
    close(s);
    s.call.end();
  };

  /** Responses that carry no correlation id (or an invalid deployment) go back to the sender only. */
  const sendDirect = (s: Stream, response: ClassifyResponse) => {
    if (s.closed) return;
    s.push({ response, at: clock.now(), ids: [] });
  };

  const onRequest = (s: Stream, request: ClassifyRequest) => {
    if (s.closed) return;
    if (s.resetAt === undefined) s.resetAt = faults.claimReset();
    if (s.resetAt !== undefined && ++s.sinceArmed >= s.resetAt) {
      abort(s, grpc.status.UNAVAILABLE, 'stream reset (fault injection)');
      return;
    }
    const deploymentId = request.deploymentId;
    if (s.deploymentId === undefined) s.deploymentId = deploymentId;
    else if (deploymentId !== s.deploymentId) {
      abort(s, grpc.status.INVALID_ARGUMENT, `deployment id changed on the stream from '${s.deploymentId}' to '${deploymentId}'; open a new stream for another deployment`);
      return;
    }
    const inputs = request.inputs ?? [];
    const badId = idProblem('deployment', deploymentId);
    if (badId) {
      // No deployment to share with: the answer goes to this stream, per image when there are images.
      if (inputs.length === 0) {
        sendDirect(s, { globalError: { code: 'ERROR_CODE_DEPLOYMENT_ID_INVALID', message: badId, details: '' }, outputs: [] });
        return;
      }
      const outputs = inputs.map((input) => rejected(input.correlationId, 'ERROR_CODE_DEPLOYMENT_ID_INVALID', badId));
      inputs.forEach((input, k) => record(deploymentId, input, outputs[k]));
      sendDirect(s, { globalError: null, outputs });
      return;
    }
    let d = deployments.get(deploymentId);
    if (!d) {
      d = new Deployment(deploymentId, clock.now(), maxBacklog);
      deployments.set(deploymentId, d);
    }
    d.lastActivity = clock.now();
    if (!s.deployment) {
      s.deployment = d;
      d.streams.push(s);
      d.pump(s);
    }
    const refused = inputs.find((input) => !permitted(s.affiliates, input.affiliate));
    if (refused) {
      const error = { code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' as const, message: `affiliate '${refused.affiliate}' is not permitted for this token`, details: '' };
      inputs.forEach((input) => record(deploymentId, input, { correlationId: input.correlationId, classifications: [], error }));
      sendDirect(s, { globalError: error, outputs: [] });
      return;
    }
    if (inputs.length === 0) return; // keep-alive or join
    const deployment = d;
    const reserved: string[] = [];
    const early: (ClassificationOutput | undefined)[] = inputs.map((input) => {
      const id = input.correlationId;
      const problem = idProblem('correlation', id);
      if (problem) return rejected(id, 'ERROR_CODE_CORRELATION_ID_INVALID', problem);
      if (deployment.outstanding.has(id)) {
        return rejected(id, 'ERROR_CODE_CORRELATION_ID_INVALID', `correlation id '${id}' is already in use in deployment '${deploymentId}' (not yet answered)`);
      }
      deployment.outstanding.add(id);
      reserved.push(id);
      return undefined;
    });
    s.inFlight++;
    updateFlow(s);
    void (async () => {
      try {
        const outputs = await Promise.all(inputs.map((input, k) => early[k] ?? classifyInput(input, ctx)));
        inputs.forEach((input, k) => record(deploymentId, input, outputs[k]));
        await delay(faults.latencyMs);
        if (deployment.removed || stopping) return;
        deployment.deliver({ response: { globalError: null, outputs }, at: clock.now(), ids: reserved });
      } finally {
        s.inFlight--;
        updateFlow(s);
        maybeFinish(s);
      }
    })();
  };

  const classify = (call: ClassifyCall) => {
    const auth = authorize(call.metadata);
    if ('code' in auth) {
      call.emit('error', auth);
      return;
    }
    if (stopping) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server stopping', metadata: new grpc.Metadata() });
      return;
    }
    const s = new Stream(call, auth.affiliates, SERVER_DEFAULTS.maxQueuedPerStream);
    streams.add(s);
    s.afterDrain = () => {
      s.deployment?.pump(s);
      maybeFinish(s);
    };
    if (faults.resetArmedAtZero) {
      faults.claimReset();
      abort(s, grpc.status.UNAVAILABLE, 'stream reset (fault injection)');
      return;
    }
    call.on('data', (request: ClassifyRequest) => onRequest(s, request));
    call.on('end', () => {
      s.halfClosed = true;
      maybeFinish(s);
    });
    call.on('cancelled', () => close(s));
    call.on('error', () => close(s));
    call.on('close', () => close(s));
    updateFlow(s);
  };

  const classifySingle = (call: grpc.ServerUnaryCall<ClassificationInput, ClassificationOutput>, callback: grpc.sendUnaryData<ClassificationOutput>) => {
    const auth = authorize(call.metadata);
    if ('code' in auth) return callback(auth);
    const input = call.request;
    const done = (output: ClassificationOutput) => {
      record(null, input, output);
      callback(null, output);
    };
    if (!permitted(auth.affiliates, input.affiliate)) {
      return done(rejected(input.correlationId, 'ERROR_CODE_AFFILIATE_NOT_PERMITTED', `affiliate '${input.affiliate}' is not permitted for this token`));
    }
    const problem = idProblem('correlation', input.correlationId);
    if (problem) return done(rejected(input.correlationId, 'ERROR_CODE_CORRELATION_ID_INVALID', problem));
    void classifyInput(input, ctx).then(async (output) => {
      await delay(faults.latencyMs);
      done(output);
    });
  };

  const listDeployments = (call: grpc.ServerUnaryCall<unknown, ListDeploymentsResponse>, callback: grpc.sendUnaryData<ListDeploymentsResponse>) => {
    const auth = authorize(call.metadata);
    if ('code' in auth) return callback(auth);
    callback(null, { deployments: [...deployments.values()].map((d) => ({ deploymentId: d.id, backlog: d.backlog.length })) });
  };

  const sweep = () => {
    const now = clock.now();
    for (const d of deployments.values()) {
      const keep = d.backlog.filter((p) => now - p.at <= responseTtlMs);
      if (keep.length !== d.backlog.length) {
        for (const p of d.backlog) if (now - p.at > responseTtlMs) d.release(p.ids);
        d.purged += d.backlog.length - keep.length;
        d.backlog = keep;
      }
      if (d.streams.length === 0 && now - d.lastActivity >= deploymentIdleMs) {
        d.removed = true;
        d.backlog = [];
        deployments.delete(d.id);
      }
    }
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // Clients that ping to keep long streams alive must not be refused.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 1000,
    'grpc.http2.max_ping_strikes': 0,
    // Read by grpc-js servers once grpc/grpc-node#3058 lands; until then grantWindow() does it.
    'grpc-node.flow_control_window': flowControlWindow,
  });
  server.addService(classifierServiceDefinition(), {
    Classify: classify,
    ClassifySingle: classifySingle,
    ListDeployments: listDeployments,
  } as grpc.UntypedServiceImplementation);

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }], false)
    : grpc.ServerCredentials.createInsecure();
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${hostPart}:${options.port ?? SERVER_DEFAULTS.port}`, credentials, (err, bound) =>
      err ? reject(new AthenaTestingError('BIND_FAILED', `cannot listen on ${hostPart}:${options.port ?? 0}: ${err.message}`, { cause: err })) : resolve(bound),
    ),
  );

  grantWindow(server, flowControlWindow);

  const unsubscribeClock = clock.onAdvance?.(sweep);
  const sweepTimer = unsubscribeClock ? undefined : setInterval(sweep, Math.min(60_000, responseTtlMs, deploymentIdleMs));
  sweepTimer?.unref();

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= new Promise<void>((resolve) => {
      stopping = true;
      unsubscribeClock?.();
      if (sweepTimer) clearInterval(sweepTimer);
      for (const entry of delays) (clearTimeout(entry.timer), entry.resolve());
      delays.clear();
      for (const s of [...streams]) abort(s, grpc.status.UNAVAILABLE, 'server stopping');
      const force = setTimeout(() => server.forceShutdown(), SERVER_DEFAULTS.stopGraceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }));

  return {
    address: `${hostPart}:${port}`,
    port,
    stop,
    clock,
    faults,
    audit,
    deployments: () => [...deployments.values()].map((d) => ({ deploymentId: d.id, backlog: d.backlog.length, streams: d.streams.length, purged: d.purged })),
    sweep,
  };
}
