export * from './contract/messages';
export type * from './preprocess/types';
export type * from './operators/results';
export * from './operators/inFlightWindow';
export * from './operators/bufferBatch';
