export { classify, type ClassifyOptions } from './classify';
export { DEFAULT_RECONNECT, timedReconnect, type ReconnectOptions, type ReconnectPolicy, type StreamBreak } from './connection';
export type {
  ClassifyConnectionEvent,
  ClassifyDroppedEvent,
  ClassifyEvent,
  ClassifyFailedEvent,
  ClassifyFailure,
  ClassifyLateEvent,
  ClassifyItem,
  ClassifyRejectedEvent,
  ClassifyResponseEvent,
  ClassifySentEvent,
  SentImage,
} from './events';
