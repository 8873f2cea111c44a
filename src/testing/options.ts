import type { Clock } from './clock';
import { systemClock } from './clock';
import { AthenaTestingError } from './errors';

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
  /** Most images waiting in all backlogs together: about 670 bytes each with labels, so 67 MB. */
  maxBacklogImages: 100_000,
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
  /**
   * Inputs one `ClassifyRequest` may carry; more is refused with a global error. The API
   * recommends 10-50 per request and a 64 MiB message holds about 110 raw images, so 1,000 leaves
   * room for hash-only work without letting one message queue unbounded work.
   */
  maxInputsPerRequest: 1000,
  /**
   * Images decoded (Brotli, then sharp) at the same time across the server: libuv's thread pool
   * has 4 threads, so more would only interleave their memory without finishing sooner.
   */
  decodeConcurrency: 4,
  /**
   * Images received and not yet answered across the server; every stream stops reading (HTTP/2
   * flow control pushes back on the clients) while this many wait. 512 raw images are 300 MB.
   */
  maxPendingImages: 512,
  /**
   * HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS); a client
   * queues further calls until one ends. Every open stream may hold a request the server has read
   * but not yet admitted, so this bounds what one connection can make the server hold.
   */
  maxConcurrentStreams: 32,
  /** `ClassifySingle` calls answered at the same time across the server; more get `RESOURCE_EXHAUSTED`. */
  maxConcurrentUnary: 64,
  /**
   * Deployments the server holds. A new one beyond it evicts the least recently used deployment
   * that no stream has joined (its backlog purged, as on expiry); with every one joined, the new
   * stream is refused with `RESOURCE_EXHAUSTED`.
   */
  maxDeployments: 1000,
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
  /** Largest `data` (as sent, before Brotli decoding) accepted; larger gets `IMAGE_TOO_LARGE`. Default 10 MiB. */
  maxImageBytes?: number;
  /**
   * Most bytes the Brotli `data` of an encoded image (PNG, JPEG, ...) may decode to; beyond it the
   * image gets `IMAGE_TOO_LARGE` and decoding stops there. Raw pixels stop at 602,112 bytes, the
   * only size they may have. Default: `maxImageBytes`.
   */
  maxDecodedBytes?: number;
  /** Inputs one `ClassifyRequest` may carry; more gets a `global_error` (`ERROR_CODE_UNSPECIFIED`). Default 1,000. */
  maxInputsPerRequest?: number;
  /** Images decoded at the same time across the server (Brotli and sharp). Default 4. */
  decodeConcurrency?: number;
  /**
   * Images received and not yet answered across the server before every stream stops reading
   * (back-pressure through HTTP/2 flow control). A request is admitted whole. Default 512.
   */
  maxPendingImages?: number;
  /**
   * HTTP/2 streams (calls) one connection may have open at once; a client queues the rest. Bounds
   * what one connection can make the server hold (each stream's request is read whole). Default 32.
   */
  maxConcurrentStreams?: number;
  /** `ClassifySingle` calls handled at the same time across the server; more are refused with `RESOURCE_EXHAUSTED`. Default 64. */
  maxConcurrentUnary?: number;
  /**
   * Deployments held at once. A new deployment beyond it evicts the least recently used one no
   * stream has joined (its backlog purged and counted as on expiry); if every deployment has a
   * stream, the new stream is refused with `RESOURCE_EXHAUSTED`. Default 1,000.
   */
  maxDeployments?: number;
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
   * Most images (outputs) waiting in all the deployments' backlogs together; beyond it the
   * longest-waiting responses of the whole server are purged, as if they had expired, so many
   * deployments of unread answers stay bounded too. Default 100,000 (about 67 MB).
   */
  maxBacklogImages?: number;
  /**
   * HTTP/2 flow-control window the server grants, per stream and for the connection, in bytes
   * (65,535 to 2^31 - 1). Default 16 MiB, like a real gRPC server after BDP probing; 65,535 is
   * HTTP/2's and grpc-js's default.
   */
  flowControlWindow?: number;
}

/** Every option with its default applied, checked once at start. */
export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: { cert: Buffer | string; key: Buffer | string } | undefined;
  readonly clock: Clock;
  readonly tokens: Record<string, string[] | '*'> | undefined;
  readonly maxImageBytes: number;
  readonly maxDecodedBytes: number;
  readonly maxInputsPerRequest: number;
  readonly decodeConcurrency: number;
  readonly maxPendingImages: number;
  readonly knownMd5: ReadonlySet<string>;
  readonly knownSha1: ReadonlySet<string>;
  readonly responseTtlMs: number;
  readonly deploymentIdleMs: number;
  readonly maxMessageBytes: number;
  readonly auditLimit: number;
  readonly maxBacklog: number;
  readonly maxBacklogImages: number;
  readonly flowControlWindow: number;
  readonly maxInFlightPerStream: number;
  readonly maxQueuedPerStream: number;
  readonly maxConcurrentStreams: number;
  readonly maxConcurrentUnary: number;
  readonly maxDeployments: number;
}

function checkOptions(o: AthenaServerOptions): void {
  const positive = (name: keyof AthenaServerOptions, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0))
      throw new AthenaTestingError('INVALID_OPTION', `${name} must be a positive number, got ${v}`);
  };
  positive('maxImageBytes', o.maxImageBytes);
  positive('responseTtlMs', o.responseTtlMs);
  positive('maxBacklog', o.maxBacklog);
  positive('deploymentIdleMs', o.deploymentIdleMs);
  positive('maxMessageBytes', o.maxMessageBytes);
  positive('auditLimit', o.auditLimit);
  positive('maxDecodedBytes', o.maxDecodedBytes);
  const count = (name: keyof AthenaServerOptions, v: number | undefined) => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0))
      throw new AthenaTestingError('INVALID_OPTION', `${name} must be a positive integer, got ${v}`);
  };
  count('maxInputsPerRequest', o.maxInputsPerRequest);
  count('decodeConcurrency', o.decodeConcurrency);
  count('maxPendingImages', o.maxPendingImages);
  count('maxBacklogImages', o.maxBacklogImages);
  count('maxConcurrentStreams', o.maxConcurrentStreams);
  count('maxConcurrentUnary', o.maxConcurrentUnary);
  count('maxDeployments', o.maxDeployments);
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
 * Checks `options` and fills in {@link SERVER_DEFAULTS}.
 * @throws AthenaTestingError `INVALID_OPTION` for an option out of range.
 */
export function resolveOptions(options: AthenaServerOptions): ResolvedOptions {
  checkOptions(options);
  const d = SERVER_DEFAULTS;
  return {
    host: options.host ?? d.host,
    port: options.port ?? d.port,
    tls: options.tls,
    clock: options.clock ?? systemClock,
    tokens: options.tokens,
    maxImageBytes: options.maxImageBytes ?? d.maxImageBytes,
    maxDecodedBytes: options.maxDecodedBytes ?? options.maxImageBytes ?? d.maxImageBytes,
    maxInputsPerRequest: options.maxInputsPerRequest ?? d.maxInputsPerRequest,
    decodeConcurrency: options.decodeConcurrency ?? d.decodeConcurrency,
    maxPendingImages: options.maxPendingImages ?? d.maxPendingImages,
    knownMd5: new Set(options.knownHashes?.md5 ?? []),
    knownSha1: new Set(options.knownHashes?.sha1 ?? []),
    responseTtlMs: options.responseTtlMs ?? d.responseTtlMs,
    deploymentIdleMs: options.deploymentIdleMs ?? d.deploymentIdleMs,
    maxMessageBytes: options.maxMessageBytes ?? d.maxMessageBytes,
    auditLimit: options.auditLimit ?? d.auditLimit,
    maxBacklog: options.maxBacklog ?? d.maxBacklog,
    maxBacklogImages: options.maxBacklogImages ?? d.maxBacklogImages,
    flowControlWindow: options.flowControlWindow ?? d.flowControlWindow,
    maxInFlightPerStream: d.maxInFlightPerStream,
    maxQueuedPerStream: d.maxQueuedPerStream,
    maxConcurrentStreams: options.maxConcurrentStreams ?? d.maxConcurrentStreams,
    maxConcurrentUnary: options.maxConcurrentUnary ?? d.maxConcurrentUnary,
    maxDeployments: options.maxDeployments ?? d.maxDeployments,
  };
}
