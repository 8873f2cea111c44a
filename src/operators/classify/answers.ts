import type { ClassificationOutput, ClassifyResponse } from '../../contract/messages';
import type { FailureCode } from '../../core/codes';
import type { ClassifyLedger, ImageRecord } from './ledger';

/** What one response answers, matched against the session's ledger. */
export interface Answers<R> {
  /** The images it settles (each already passed to `settle`), to finalize once the event is out. */
  readonly settled: ImageRecord<R>[];
  /** The outputs to pass downstream: the response's own, less collisions swallowed while a first send is pending. */
  readonly outputs: ClassificationOutput[];
  /** A `global_error` refused a request of ours: `settled` are its images. */
  readonly refused: boolean;
}

/**
 * Matches `response` to the images it answers and settles them through `settle`. A `global_error`
 * names no image, so the ledger decides which request it is blamed on. An output for an id we do
 * not know (or no longer wait for) is kept for `correlate` to judge; an ID-in-use error for an image
 * we re-sent is swallowed, because the first send is still being answered.
 *
 * Kept apart from the session because it is the one place that reads a response against the ledger:
 * the session only decides what the outcome triggers (events, pumping, completion).
 */
export function matchAnswers<R>(
  response: ClassifyResponse,
  ledger: ClassifyLedger<R>,
  settle: (rec: ImageRecord<R>, failure?: FailureCode) => void,
  defaultAffiliate: string,
): Answers<R> {
  const outputs = response.outputs ?? [];
  if (response.globalError) {
    const req = ledger.blame();
    if (!req) return { settled: [], outputs, refused: false };
    ledger.markAnswered(req);
    const recs = req.recs.filter((r) => r.state === 'sent' && r.request === req);
    for (const rec of recs) settle(rec, response.globalError.code);
    return { settled: recs, outputs, refused: true };
  }
  const settled: ImageRecord<R>[] = [];
  let swallowed = false;
  const kept = outputs.filter((output) => {
    const rec = ledger.get(output.correlationId);
    if (rec) ledger.reclaim(rec); // a late answer to an earlier send, while it waits to be re-sent
    if (!rec || rec.state !== 'sent') return true; // foreign or duplicate: correlate decides
    if (rec.resent && output.error?.code === 'ERROR_CODE_CORRELATION_ID_INVALID') {
      swallowed = true; // the first send is still being answered: wait for that answer
      return false;
    }
    if (rec.request) ledger.markAnswered(rec.request);
    ledger.confirm(rec.image.affiliate ?? defaultAffiliate);
    settle(rec, output.error?.code);
    settled.push(rec);
    return true;
  });
  return { settled, outputs: swallowed ? kept : outputs, refused: false };
}
