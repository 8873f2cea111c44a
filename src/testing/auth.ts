import * as grpc from '@grpc/grpc-js';
import type { FaultState } from './faults';

/** The affiliates a caller's token allows: a list, or `'*'` for any. */
export type Affiliates = readonly string[] | '*';

function bearer(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match?.[1];
}

/** Whether `affiliates` (from the caller's token) include `affiliate`. */
export function permitted(affiliates: Affiliates, affiliate: string): boolean {
  return affiliates === '*' || affiliates.includes(affiliate);
}

/** The message a refused affiliate gets, in a global error or a per-image one. */
export function notPermittedMessage(affiliate: string): string {
  return `affiliate '${affiliate}' is not permitted for this token`;
}

/**
 * Checks each call's token (contract section 5). An injected `unavailableNext` fault is taken here
 * too, so every RPC fails the same way before any other work.
 */
export class Authorizer {
  constructor(
    private readonly tokens: Record<string, string[] | '*'> | undefined,
    private readonly faults: FaultState,
  ) {}

  /** The affiliates the call's token allows, or the status to fail the call with. */
  authorize(metadata: grpc.Metadata): { affiliates: Affiliates } | grpc.StatusObject {
    if (this.faults.takeUnavailable())
      return { code: grpc.status.UNAVAILABLE, details: 'unavailable (fault injection)', metadata: new grpc.Metadata() };
    const tokens = this.tokens;
    if (!tokens) return { affiliates: '*' };
    const token = bearer(metadata);
    const affiliates = token !== undefined && Object.prototype.hasOwnProperty.call(tokens, token) ? tokens[token] : undefined;
    if (!affiliates) {
      return {
        code: grpc.status.UNAUTHENTICATED,
        details: token === undefined ? 'missing authorization: Bearer <token> metadata' : 'unknown bearer token',
        metadata: new grpc.Metadata(),
      };
    }
    return { affiliates };
  }
}
