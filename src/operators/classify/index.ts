export { classify, type ClassifyOptions } from './classify';
export type { ReconnectOptions } from './connection';
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
