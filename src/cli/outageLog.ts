import type { ClassifyEvent } from '../index';
import { describeCallError } from './errors';

/**
 * Says on stderr, once each, what happens to the service during a run: the stream broke and is
 * being reopened (within the outage budget), it answers again, the budget is spent, or answers
 * are late in the 1-hour response window. Never a line per image.
 */
export class OutageLog {
  private brokenAt: number | undefined;

  constructor(
    private readonly write: (line: string) => void,
    private readonly address: string,
    private readonly giveUpAfterMs: number,
  ) {}

  onEvent(event: ClassifyEvent<unknown>): void {
    const now = performance.now();
    switch (event.kind) {
      case 'connection':
        if (event.state === 'reconnecting' && this.brokenAt === undefined) {
          this.brokenAt = now;
          this.write(
            `the stream to ${this.address} broke (${describeCallError(event.error, this.address)}); ` +
              `reconnecting for up to ${this.giveUpAfterMs / 1000} s (--give-up-after)`,
          );
        } else if (event.state === 'failed') {
          const lasted = this.brokenAt === undefined ? '' : ` after ${((now - this.brokenAt) / 1000).toFixed(1)} s`;
          this.write(
            `gave up on ${this.address}${lasted}: ${describeCallError(event.error, this.address)}. ` +
              'Images sent fail as TRANSPORT_FAILED; files not yet read are NOT_ATTEMPTED (run again for those)',
          );
        }
        return;
      case 'response':
        if (this.brokenAt !== undefined) {
          this.write(`${this.address} answers again after ${((now - this.brokenAt) / 1000).toFixed(1)} s`);
          this.brokenAt = undefined;
        }
        return;
      case 'late': {
        const first = Math.min(...event.images.map((i) => i.firstSentAt ?? event.at));
        this.write(
          `warning: ${event.images.length} ${event.images.length === 1 ? 'image is' : 'images are'} still unanswered ` +
            `${Math.round((event.at - first) / 60_000)} min after sending; the service keeps answers for ` +
            `${Math.round(event.lifetimeMs / 60_000)} min (docs/monitoring.md, "late answers")`,
        );
        return;
      }
      default:
        return;
    }
  }
}
