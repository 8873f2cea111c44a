/**
 * Redaction of a secret however a server may echo it back: raw, URL-encoded (as in a query or a
 * form body), JSON-escaped (as in a JSON body echoed inside JSON, once or twice), and base64 (alone,
 * or in an HTTP Basic `user:secret` header). Used on every text from elsewhere that can reach an
 * error message.
 */

/** What stands in for a secret in messages. */
export const REDACTED = '[redacted]';

/**
 * Secrets shorter than this are not searched for: a test placeholder such as `x` would match
 * ordinary letters and garble the message. Real client secrets and passwords are far longer.
 */
export const MIN_REDACTED_LENGTH = 6;

/** `\uXXXX` for every character outside printable ASCII, as Python's `json.dumps` writes them. */
const asciiOnly = (json: string, upper: boolean): string =>
  json.replace(/[^\x20-\x7e]/g, (c) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${upper ? hex.toUpperCase() : hex}`;
  });

/** JSON string contents (without the quotes). */
const jsonEscape = (text: string): string => JSON.stringify(text).slice(1, -1);

/** `application/x-www-form-urlencoded`, as `URLSearchParams` writes it (space as `+`). */
const formEncode = (text: string): string => new URLSearchParams([['', text]]).toString().slice(1);

/**
 * Every spelling of `secret` this module redacts, longest first (so that a longer spelling is
 * replaced whole before a shorter one inside it). `basicUser`, when given, adds the base64 of an
 * HTTP Basic `user:secret` pair (RFC 7617, and RFC 6749's form-encoded variant).
 */
export function secretSpellings(secret: string, basicUser?: string): string[] {
  if (secret.length < MIN_REDACTED_LENGTH) return [];
  const spellings = new Set<string>([secret]);
  for (const encoded of [encodeURIComponent(secret), formEncode(secret), encodeURI(secret)]) {
    spellings.add(encoded);
    spellings.add(encoded.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  }
  for (const json of [jsonEscape(secret), jsonEscape(jsonEscape(secret))]) {
    for (const slash of [json, json.replace(/\//g, '\\/')]) {
      spellings.add(slash);
      spellings.add(asciiOnly(slash, false));
      spellings.add(asciiOnly(slash, true));
    }
  }
  const base64 = (text: string): string[] => {
    const b = Buffer.from(text, 'utf8');
    return [b.toString('base64'), b.toString('base64url'), b.toString('base64').replace(/=+$/, '')];
  };
  for (const b of base64(secret)) spellings.add(b);
  if (basicUser !== undefined) {
    for (const b of base64(`${basicUser}:${secret}`)) spellings.add(b);
    for (const b of base64(`${formEncode(basicUser)}:${formEncode(secret)}`)) spellings.add(b);
  }
  return [...spellings].filter((s) => s.length >= MIN_REDACTED_LENGTH).sort((a, b) => b.length - a.length);
}

/** A function that replaces every spelling of the secrets in a text with {@link REDACTED}. */
export type Redact = (text: string) => string;

/** The {@link Redact} for `secrets` (each with its Basic user, if any). */
export function redactor(secrets: ReadonlyArray<{ readonly secret: string; readonly basicUser?: string }>): Redact {
  const spellings = secrets.flatMap((s) => secretSpellings(s.secret, s.basicUser)).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const spelling of spellings) if (out.includes(spelling)) out = out.split(spelling).join(REDACTED);
    return out;
  };
}
