export { classify, type ClassifyOptions } from './classify';
export { countedReconnect, DEFAULT_RECONNECT, type ReconnectOptions, type ReconnectPolicy, type StreamBreak } from './connection';
export type {
  ClassifyConnectionEvent,
  ClassifyEvent,
  ClassifyFailedEvent,
  ClassifyFailure,
  ClassifyItem,
  ClassifyRejectedEvent,
  ClassifyResponseEvent,
  ClassifySentEvent,
  SentImage,
} from './events';
