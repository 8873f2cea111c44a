import * as grpc from '@grpc/grpc-js';
import { map, type Observable } from 'rxjs';
import { classifierServiceDefinition } from '../contract/load';
import type {
  ClassificationInput,
  ClassificationOutput,
  ClassifyRequestInit,
  ClassifyResponse,
  ListDeploymentsResponse,
} from '../contract/messages';
import { duplexClassify, type ClassifyDuplex, type DuplexOpener } from './classify';
import { encodeClassificationInput, encodeClassifyRequest, withFastEncoder } from './encodeRequest';
import type { AthenaCredentials } from './credentials';
import { AthenaTransportError } from './errors';
import { CLIENT_LANGUAGE, clientVersion } from './version';
import type { AthenaClient, ClassifyCallOptions, UnaryCallOptions } from './types';
import { InvalidOptionError } from '../core/invalidOptionError';
import { withoutIpServerName } from './tlsServerName';
import { unaryCall, type UnaryOpener } from './unary';

/** 64 MiB: a batch of 50 raw 448x448 images (about 30 MB) with room to spare, both ways. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Channel options every client starts from; `channelOptions` is merged over them.
 *
 * - Message limits of 64 MiB both ways (grpc-js defaults to 4 MiB received, which one batch of
 *   seven raw images already exceeds).
 * - Keep-alive pings every 30 s, also without calls, so that a NAT or load balancer does not drop
 *   an idle stream silently; 10 s without an answer closes the connection (UNAVAILABLE). A server
 *   that allows fewer pings answers with GOAWAY and grpc-js backs off by itself.
 */
export function defaultChannelOptions(): grpc.ChannelOptions {
  return {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.primary_user_agent': `athena-rx/${clientVersion()}`,
    // grpc-js backs off reconnecting up to 120 s by default, so a server back after 30 s would be
    // found only at the next attempt, 10 to 20 s later. Capped at 1 s, a restarted server is found
    // within about a second; the outage budget of classify() bounds how long that goes on.
    'grpc.initial_reconnect_backoff_ms': 250,
    'grpc.max_reconnect_backoff_ms': 1_000,
  };
}

/** Options of {@link createAthenaClient}. */
export interface AthenaClientOptions {
  /** `host:port` of the service, e.g. `'api.athena-risk-intelligence.com:443'` or `'127.0.0.1:50051'`. */
  readonly address: string;
  /** Channel security and token: {@link tls} for the service, {@link insecure} for loopback. */
  readonly credentials: AthenaCredentials;
  /** Put into every `ClassifyRequest` whose `deploymentId` is empty. */
  readonly deploymentId?: string;
  /** Put into every `ClassificationInput` whose `affiliate` is empty (streamed and single). */
  readonly affiliate?: string;
  /** grpc-js channel options, merged over {@link defaultChannelOptions}. */
  readonly channelOptions?: grpc.ChannelOptions;
  /**
   * Number of channels (HTTP/2 connections). Default 1: one channel serves every call. More open
   * a pool, each call taking the next channel in turn, for throughput beyond one connection.
   */
  readonly channels?: number;
  /** Sent as `x-client-version`. Default: this package's version. */
  readonly clientVersion?: string;
  /** Deadline of unary calls without one of their own, in ms. Default 60 000. */
  readonly defaultDeadlineMs?: number;
}

/** The client {@link createAthenaClient} returns. */
export interface AthenaGrpcClient extends AthenaClient {
  /** The `Classify` stream; `options.onWriteState` observes its write side. */
  classify(requests: Observable<ClassifyRequestInit>, options?: ClassifyCallOptions): Observable<ClassifyResponse>;
  /** Number of channels in the pool. */
  readonly channelCount: number;
}

const CLOSED_DETAILS = 'the Athena client was closed';

/** The channel options of a client: the defaults, then the credentials', then the caller's. */
function clientChannelOptions(options: AthenaClientOptions, channelCount: number): grpc.ChannelOptions {
  return {
    ...defaultChannelOptions(),
    ...options.credentials.channelOptions,
    ...options.channelOptions,
    // grpc-js shares connections between channels with equal options; a pool needs its own.
    ...(channelCount > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  };
}

/** The channels of a client; each call takes the next one in turn. */
interface ChannelPool {
  readonly pick: () => grpc.Client;
  readonly close: () => void;
}

function openChannelPool(options: AthenaClientOptions, definition: grpc.ServiceDefinition, channelCount: number): ChannelPool {
  const Client = grpc.makeGenericClientConstructor(definition, 'ClassifierService');
  const channelOptions = clientChannelOptions(options, channelCount);
  const pool: grpc.Client[] = Array.from(
    { length: channelCount },
    () => new Client(options.address, withoutIpServerName(options.credentials.channelCredentials()), channelOptions),
  );
  let next = 0;
  return {
    pick: () => pool[next++ % pool.length] as grpc.Client,
    close: () => {
      for (const client of pool) client.close();
    },
  };
}

/**
 * The calls in progress, so that `close()` can cancel them, and whether the client is closed: a
 * call asked for after `close()` fails at once with CANCELLED rather than reopening a channel.
 */
interface OpenCalls {
  /** The error a call fails with once the client is closed; undefined while it is open. */
  readonly closedError: () => AthenaTransportError | undefined;
  /** Adds a call; the function returned removes it again. */
  readonly track: (call: { cancel(): void }) => () => void;
  /** Marks the client closed and cancels every call in progress. Returns false if it already was. */
  readonly close: () => boolean;
}

function openCalls(): OpenCalls {
  const active = new Set<{ cancel(): void }>();
  let closed = false;
  return {
    closedError: () =>
      closed ? new AthenaTransportError({ status: grpc.status.CANCELLED, details: CLOSED_DETAILS, retryable: false }) : undefined,
    track: (call) => {
      active.add(call);
      return () => active.delete(call);
    },
    close: () => {
      if (closed) return false;
      closed = true;
      for (const call of [...active]) call.cancel();
      active.clear();
      return true;
    },
  };
}

/** The metadata every call carries, the token asked anew of the provider (and its cache) each time. */
function callMetadata(credentials: AthenaCredentials, version: string): () => Promise<grpc.Metadata> {
  return async () => {
    const md = new grpc.Metadata();
    md.set('x-client-language', CLIENT_LANGUAGE);
    md.set('x-client-version', version);
    if (credentials.token) md.set('authorization', `Bearer ${await credentials.token.getToken()}`);
    return md;
  };
}

/** Fills the client's `affiliate` into inputs without one. */
function affiliateFiller(affiliate: string | undefined): (input: Partial<ClassificationInput>) => Partial<ClassificationInput> {
  return (input: Partial<ClassificationInput>): Partial<ClassificationInput> =>
    affiliate && !input.affiliate ? { ...input, affiliate } : input;
}

/**
 * The client's `Classify` requests: its `deploymentId` and `affiliate` filled in where a request
 * or input has none; the stream is passed through untouched when the client has neither.
 */
function filledRequests(
  requests: Observable<ClassifyRequestInit>,
  deploymentId: string | undefined,
  affiliate: string | undefined,
): Observable<ClassifyRequestInit> {
  if (deploymentId === undefined && affiliate === undefined) return requests;
  const withAffiliate = affiliateFiller(affiliate);
  return requests.pipe(
    map((request) => {
      const needsDeployment = deploymentId !== undefined && !request.deploymentId;
      const needsAffiliate = affiliate !== undefined && (request.inputs ?? []).some((i) => !i.affiliate);
      if (!needsDeployment && !needsAffiliate) return request;
      return {
        ...request,
        deploymentId: needsDeployment ? deploymentId : request.deploymentId,
        inputs: needsAffiliate ? (request.inputs ?? []).map(withAffiliate) : request.inputs,
      };
    }),
  );
}

/** The three methods of the service, with the hand-written encoders where they apply. */
function clientMethods(definition: grpc.ServiceDefinition) {
  const classify = definition.Classify as grpc.MethodDefinition<ClassifyRequestInit, ClassifyResponse>;
  const single = definition.ClassifySingle as grpc.MethodDefinition<Partial<ClassificationInput>, ClassificationOutput>;
  // The requests that carry pixels are written by hand (one allocation, pixels copied once);
  // protobufjs stays the fallback for shapes the encoder leaves alone.
  return {
    classify: { ...classify, requestSerialize: withFastEncoder(encodeClassifyRequest, classify.requestSerialize) },
    classifySingle: { ...single, requestSerialize: withFastEncoder(encodeClassificationInput, single.requestSerialize) },
    listDeployments: definition.ListDeployments as grpc.MethodDefinition<Record<string, never>, ListDeploymentsResponse>,
  };
}

/**
 * Creates a client of the Athena `ClassifierService` over gRPC.
 *
 * Every call carries `authorization: Bearer <token>` (when the credentials have a token; it is
 * fetched anew, from the provider's cache, for each call), `x-client-language: typescript` and
 * `x-client-version`. Failures of a call reject or error with an {@link AthenaTransportError};
 * a token that cannot be had with an `AthenaAuthError`.
 *
 * @example
 * import { createAthenaClient, insecure } from 'athena-rx';
 * const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure('t0ken') });
 * const { deployments } = await client.listDeployments({ deadline: 5_000 });
 * client.close();
 */
export function createAthenaClient(options: AthenaClientOptions): AthenaGrpcClient {
  const channelCount = options.channels ?? 1;
  if (!Number.isInteger(channelCount) || channelCount < 1) {
    throw new InvalidOptionError(`createAthenaClient: channels must be a positive integer, not ${String(options.channels)}`);
  }
  const { credentials, deploymentId, affiliate } = options;
  credentials.checkAddress?.(options.address);
  const definition = classifierServiceDefinition();
  const methods = clientMethods(definition);
  const pool = openChannelPool(options, definition, channelCount);
  const calls = openCalls();
  const metadata = callMetadata(credentials, options.clientVersion ?? clientVersion());
  // A refused token may have been revoked before its expiry: fetch a new one for the next call.
  const failed = (error: AthenaTransportError): void => {
    if (error.status === grpc.status.UNAUTHENTICATED) credentials.token?.invalidate?.();
  };
  const unary: UnaryOpener = {
    closedError: calls.closedError,
    prepare: metadata,
    channel: pool.pick,
    defaultDeadlineMs: options.defaultDeadlineMs ?? 60_000,
    failed,
    track: calls.track,
  };
  const duplex: DuplexOpener = {
    prepare: () => {
      const closedError = calls.closedError();
      return closedError ? Promise.reject(closedError) : metadata();
    },
    open: (md): ClassifyDuplex => {
      const closedError = calls.closedError();
      if (closedError) throw closedError;
      const { path, requestSerialize, responseDeserialize } = methods.classify;
      return pool.pick().makeBidiStreamRequest(path, requestSerialize, responseDeserialize, md);
    },
    failed,
    track: calls.track,
  };
  const withAffiliate = affiliateFiller(affiliate);

  return {
    deploymentId,
    affiliate,
    channelCount,
    classify(requests: Observable<ClassifyRequestInit>, callOptions?: ClassifyCallOptions): Observable<ClassifyResponse> {
      return duplexClassify(duplex, filledRequests(requests, deploymentId, affiliate), callOptions);
    },
    credentialExpiresAt: () => credentials.token?.expiresAt?.(),
    classifySingle(input: Partial<ClassificationInput>, callOptions?: UnaryCallOptions): Promise<ClassificationOutput> {
      return unaryCall(unary, methods.classifySingle, withAffiliate(input), callOptions);
    },
    listDeployments(callOptions?: UnaryCallOptions): Promise<ListDeploymentsResponse> {
      return unaryCall(unary, methods.listDeployments, {}, callOptions);
    },
    close(): void {
      if (calls.close()) pool.close();
    },
  };
}
