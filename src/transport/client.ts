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
import { duplexClassify, type ClassifyDuplex } from './classify';
import { encodeClassificationInput, encodeClassifyRequest, withFastEncoder } from './encodeRequest';
import type { AthenaCredentials } from './credentials';
import { AthenaTransportError } from './errors';
import { CLIENT_LANGUAGE, clientVersion } from './version';
import type { AthenaClient, ClassifyCallOptions, UnaryCallOptions } from './types';
import { InvalidOptionError } from '../core/invalidOptionError';
import { withoutIpServerName } from './tlsServerName';

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
  const version = options.clientVersion ?? clientVersion();
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 60_000;
  const channelOptions: grpc.ChannelOptions = {
    ...defaultChannelOptions(),
    ...credentials.channelOptions,
    ...options.channelOptions,
    // grpc-js shares connections between channels with equal options; a pool needs its own.
    ...(channelCount > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  };

  const definition = classifierServiceDefinition();
  const Client = grpc.makeGenericClientConstructor(definition, 'ClassifierService');
  const pool: grpc.Client[] = Array.from(
    { length: channelCount },
    () => new Client(options.address, withoutIpServerName(credentials.channelCredentials()), channelOptions),
  );
  let next = 0;
  const pick = (): grpc.Client => pool[next++ % pool.length] as grpc.Client;

  const active = new Set<{ cancel(): void }>();
  let closed = false;
  const closedError = (): AthenaTransportError =>
    new AthenaTransportError({ status: grpc.status.CANCELLED, details: CLOSED_DETAILS, retryable: false });

  async function metadata(): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    md.set('x-client-language', CLIENT_LANGUAGE);
    md.set('x-client-version', version);
    if (credentials.token) md.set('authorization', `Bearer ${await credentials.token.getToken()}`);
    return md;
  }

  // A refused token may have been revoked before its expiry: fetch a new one for the next call.
  const onFailure = (error: AthenaTransportError): void => {
    if (error.status === grpc.status.UNAUTHENTICATED) credentials.token?.invalidate?.();
  };

  const withAffiliate = (input: Partial<ClassificationInput>): Partial<ClassificationInput> =>
    affiliate && !input.affiliate ? { ...input, affiliate } : input;

  const fillRequest = (request: ClassifyRequestInit): ClassifyRequestInit => {
    const needsDeployment = deploymentId !== undefined && !request.deploymentId;
    const needsAffiliate = affiliate !== undefined && (request.inputs ?? []).some((i) => !i.affiliate);
    if (!needsDeployment && !needsAffiliate) return request;
    return {
      ...request,
      deploymentId: needsDeployment ? (deploymentId as string) : request.deploymentId,
      inputs: needsAffiliate ? (request.inputs ?? []).map(withAffiliate) : request.inputs,
    };
  };

  const classifyMethod = definition.Classify as grpc.MethodDefinition<ClassifyRequestInit, ClassifyResponse>;
  // The requests that carry pixels are written by hand (one allocation, pixels copied once);
  // protobufjs stays the fallback for shapes the encoder leaves alone.
  const serializeClassify = withFastEncoder(encodeClassifyRequest, classifyMethod.requestSerialize);
  const singleMethod = definition.ClassifySingle as grpc.MethodDefinition<Partial<ClassificationInput>, ClassificationOutput>;
  const serializeSingle = withFastEncoder(encodeClassificationInput, singleMethod.requestSerialize);

  function classify(requests: Observable<ClassifyRequestInit>, callOptions?: ClassifyCallOptions): Observable<ClassifyResponse> {
    return duplexClassify(
      {
        prepare: () => (closed ? Promise.reject(closedError()) : metadata()),
        open: (md): ClassifyDuplex => {
          if (closed) throw closedError();
          const call = pick().makeBidiStreamRequest(
            classifyMethod.path,
            serializeClassify,
            classifyMethod.responseDeserialize,
            md,
          );
          return call;
        },
        failed: onFailure,
        track: (call) => {
          active.add(call);
          return () => active.delete(call);
        },
      },
      deploymentId !== undefined || affiliate !== undefined ? requests.pipe(map(fillRequest)) : requests,
      callOptions,
    );
  }

  function unary<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    request: Req,
    callOptions: UnaryCallOptions = {},
  ): Promise<Res> {
    const { signal } = callOptions;
    // The deadline counts from now, the token fetch included.
    const deadline =
      callOptions.deadline instanceof Date
        ? callOptions.deadline
        : new Date(Date.now() + (callOptions.deadline ?? defaultDeadlineMs));
    return new Promise<Res>((resolve, reject) => {
      if (closed) return reject(closedError());
      if (signal?.aborted) return reject(signal.reason);
      let call: grpc.ClientUnaryCall | undefined;
      const onAbort = (): void => {
        call?.cancel();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (call) active.delete(call);
      };
      metadata().then(
        (md) => {
          if (signal?.aborted) return done();
          if (closed) {
            done();
            return reject(closedError());
          }
          call = pick().makeUnaryRequest(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            request,
            md,
            { deadline },
            (error, response) => {
              done();
              if (error) {
                const transportError = AthenaTransportError.from(error);
                onFailure(transportError);
                reject(transportError);
              } else {
                resolve(response as Res);
              }
            },
          );
          active.add(call);
        },
        (error: unknown) => {
          done();
          reject(error);
        },
      );
    });
  }

  return {
    deploymentId,
    affiliate,
    channelCount,
    classify,
    credentialExpiresAt: () => credentials.token?.expiresAt?.(),
    classifySingle(input: Partial<ClassificationInput>, callOptions?: UnaryCallOptions): Promise<ClassificationOutput> {
      return unary(
        { ...singleMethod, requestSerialize: serializeSingle },
        withAffiliate(input),
        callOptions,
      );
    },
    listDeployments(callOptions?: UnaryCallOptions): Promise<ListDeploymentsResponse> {
      return unary(
        definition.ListDeployments as grpc.MethodDefinition<Record<string, never>, ListDeploymentsResponse>,
        {},
        callOptions,
      );
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const call of [...active]) call.cancel();
      active.clear();
      for (const client of pool) client.close();
    },
  };
}
