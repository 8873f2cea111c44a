import type { ClassificationInput, ClassificationOutput, ErrorCode, ImageHash } from '../contract/messages';
import type { Clock } from './clock';

/** Metadata the server keeps for each image it was sent; never the image bytes. */
export interface AuditRecord {
  /** `clock.now()` when the image was answered. */
  readonly time: number;
  /** `null` for `ClassifySingle`. */
  readonly deploymentId: string | null;
  readonly affiliate: string;
  readonly correlationId: string;
  readonly hashes: readonly ImageHash[];
  /** Length of `data` as sent (before Brotli decoding). */
  readonly byteSize: number;
  /** `'ok'` when classified, else the error code sent for it. */
  readonly outcome: 'ok' | ErrorCode;
}

/** The audit log: one record per image answered, oldest first, at most about `limit` kept. */
export class AuditLog {
  /** Exposed as `server.audit`; trimmed in place so the array a test holds stays current. */
  readonly records: AuditRecord[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly limit: number,
  ) {}

  /** Records `input` answered with `output`: metadata only, the bytes are not kept. */
  record(deploymentId: string | null, input: ClassificationInput, output: ClassificationOutput): void {
    this.records.push({
      time: this.clock.now(),
      deploymentId,
      affiliate: input.affiliate,
      correlationId: input.correlationId,
      hashes: (input.hashes ?? []).map((h) => ({ value: h.value, type: h.type })),
      byteSize: input.data?.length ?? 0,
      outcome: output.error ? output.error.code : 'ok',
    });
    // Trim in chunks so that a long run does not pay a shift per image.
    const limit = this.limit;
    if (this.records.length > limit + Math.max(1, limit >> 4)) this.records.splice(0, this.records.length - limit);
  }

  /** Records each of `inputs` with the output at the same index. */
  recordAll(deploymentId: string | null, inputs: readonly ClassificationInput[], outputs: readonly ClassificationOutput[]): void {
    inputs.forEach((input, k) => this.record(deploymentId, input, outputs[k]));
  }
}
