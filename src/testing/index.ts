/**
 * `athena-rx/testing`: an in-process Athena-compatible gRPC server and helpers for tests, demos
 * and local development. See docs/testing-server.md.
 */
export { startAthenaServer, SERVER_DEFAULTS } from './server';
export type { AthenaServerOptions, AthenaTestServer, AuditRecord, DeploymentInfo } from './server';
export { ManualClock, systemClock } from './clock';
export type { Clock } from './clock';
export type { Faults } from './faults';
export { benignClassify, BENIGN_LABELS, ENTROPY_LABEL, PCSAM_LABEL } from './benignClassifier';
export { AthenaTestingError } from './errors';
export type { AthenaTestingErrorCode } from './errors';
export { InvalidOptionError } from '../core/invalidOptionError';
