import type { PreprocessErrorCode } from '../core/codes';

/** An image that cannot be prepared. Never carries the image bytes. */
export class PreprocessError extends Error {
  readonly code: PreprocessErrorCode;
  /** Extra facts for the caller (dimensions, detected format, the underlying decoder message). */
  readonly details: string;
  constructor(code: PreprocessErrorCode, message: string, details = '', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PreprocessError';
    this.code = code;
    this.details = details;
  }
}
