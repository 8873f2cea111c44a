/** The transport layer: channels, credentials and calls of the Athena gRPC API. */
export { createAthenaClient, defaultChannelOptions, MAX_MESSAGE_BYTES, type AthenaClientOptions, type AthenaGrpcClient } from './client';
export {
  insecure,
  oauthClientCredentials,
  staticToken,
  tls,
  DEFAULT_AUDIENCE,
  DEFAULT_TOKEN_URL,
  DEFAULT_TOKEN_TIMEOUT_MS,
  jwtExpiry,
  isLoopbackAddress,
  type AccessTokenProvider,
  type AthenaCredentials,
  type OAuthClientCredentialsOptions,
  type OAuthTokenProvider,
  type InsecureOptions,
  type TlsOptions,
} from './credentials';
export {
  AthenaAuthError,
  AthenaTransportError,
  isRetryableStatus,
  type AthenaAuthErrorCode,
  type AthenaAuthErrorInit,
  type AthenaTransportErrorInit,
  type GrpcStatusName,
} from './errors';
export { clientVersion } from './version';
export { waitForReady, type WaitForReadyOptions } from './waitForReady';
export type { AthenaClient, ClassifyCall, ClassifyCallOptions, ClassifyTransport, ClassifyWriteState, UnaryCallOptions } from './types';
