import * as grpc from '@grpc/grpc-js';
import { AthenaTransportError, isRetryableStatus } from '../../src/transport';

describe('AthenaTransportError', () => {
  it.each([
    ['UNAVAILABLE', 'No connection established', true],
    ['DEADLINE_EXCEEDED', 'Deadline exceeded', true],
    ['RESOURCE_EXHAUSTED', 'too many requests', true],
    ['RESOURCE_EXHAUSTED', 'Received message larger than max (70000000 vs 67108864)', false],
    ['ABORTED', 'stream aborted', true],
    ['INTERNAL', 'Received RST_STREAM with code 2 triggered by internal client error', true],
    ['CANCELLED', 'Received RST_STREAM with code 8', true],
    ['INTERNAL', 'Serialization failure', false],
    ['CANCELLED', 'Cancelled on client', false],
    ['UNAUTHENTICATED', 'bad token', false],
    ['PERMISSION_DENIED', '', false],
    ['INVALID_ARGUMENT', 'deployment id changed', false],
    ['UNIMPLEMENTED', '', false],
    ['UNKNOWN', 'handler threw', false],
  ] as const)('%s "%s" -> retryable %s', (code, details, retryable) => {
    expect(isRetryableStatus(grpc.status[code], details)).toBe(retryable);
  });

  it('wraps a grpc-js ServiceError with status name, number, details and metadata without secrets', () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer leaked');
    metadata.set('x-api-key', 'k');
    metadata.set('x-request-id', 'r-1');
    metadata.set('trace-bin', Buffer.from([1, 2]));
    const serviceError = Object.assign(new Error('14 UNAVAILABLE: down'), {
      code: grpc.status.UNAVAILABLE,
      details: 'down',
      metadata,
    });
    const error = AthenaTransportError.from(serviceError);
    expect(error).toBeInstanceOf(AthenaTransportError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'AthenaTransportError',
      code: 'UNAVAILABLE',
      status: 14,
      details: 'down',
      retryable: true,
      metadata: { 'x-request-id': ['r-1'], 'trace-bin': ['AQI='] },
    });
    expect(JSON.stringify(error.metadata)).not.toContain('leaked');
    expect(error.message).toBe('Athena call failed: UNAVAILABLE: down');
    expect(error.cause).toBe(serviceError);
  });

  it('wraps anything else as UNKNOWN, not retryable', () => {
    expect(AthenaTransportError.from(new Error('boom'))).toMatchObject({ code: 'UNKNOWN', details: 'boom', retryable: false });
  });
});
