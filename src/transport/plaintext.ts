/**
 * The checks that keep credentials off the network in plaintext and away from other origins,
 * and the wording of token-endpoint answers that carry no token. Used by ./credentials.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidOptionError } from '../core/invalidOptionError';
import { AthenaAuthError } from './errors';

/**
 * Hosts whose traffic never leaves the machine: plaintext to them exposes nothing. Only
 * `localhost`, `127.0.0.0/8` (also IPv4-mapped, `::ffff:127.x.y.z`) and `::1`: not `*.localhost`,
 * which a resolver configured with `files dns` asks DNS for. A token request to `http://localhost`
 * also checks what the name resolves to ({@link resolvesToLoopback}) before it sends the secret.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || isLoopbackIp(h);
}

/** `127.0.0.0/8`, `::1` or an IPv4-mapped `127.0.0.0/8`, as literal addresses. */
function isLoopbackIp(ip: string): boolean {
  return ip === '::1' || /^127(?:\.\d{1,3}){3}$/.test(ip) || /^::ffff:127(?:\.\d{1,3}){3}$/.test(ip);
}

/**
 * Whether every address `host` resolves to is loopback (a literal address is checked as it is).
 * `lookup` is Node's `dns.lookup`, which reads /etc/hosts and then DNS as the system does.
 */
export async function resolvesToLoopback(host: string): Promise<boolean> {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(h) !== 0) return isLoopbackIp(h);
  try {
    const addresses = await lookup(h, { all: true, verbatim: true });
    return addresses.length > 0 && addresses.every((a) => isLoopbackIp(a.address.toLowerCase()));
  } catch {
    return false;
  }
}

/** The host of a gRPC `host:port` address (`[v6]:port` too); `unix:` sockets count as loopback. */
export function isLoopbackAddress(address: string): boolean {
  if (/^unix(-abstract)?:/.test(address)) return true;
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(address.replace(/^dns:(\/\/[^/]*\/)?/, ''));
  return m !== null && isLoopbackHost(m[1] ?? '');
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

export function checkTokenUrl(tokenUrl: string, allowPlaintext: boolean): URL {
  let url: URL;
  try {
    url = new URL(tokenUrl);
  } catch {
    throw new InvalidOptionError(`oauthClientCredentials: tokenUrl must be an absolute https:// URL, got '${tokenUrl}'`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:')
    throw new InvalidOptionError(`oauthClientCredentials: tokenUrl must be an https:// URL, got ${url.protocol}`);
  if (!allowPlaintext && !isLoopbackHost(url.hostname)) {
    throw new InvalidOptionError(
      `oauthClientCredentials: the token URL ${url.origin} is plaintext http and would send the client secret unencrypted; ` +
        'use https://, or set allowPlaintextTokenUrl: true (CLI: --allow-plaintext-credentials) if the network is trusted',
    );
  }
  return url;
}

/** A redirect target for a message: its origin and path, never its query (which may hold codes). */
function describeTarget(location: string, base: URL): string {
  try {
    const u = new URL(location, base);
    return `${u.origin}${u.pathname}${u.origin === base.origin ? ' (same origin)' : ' (another origin)'}`;
  } catch {
    return `'${snippet(location)}'`;
  }
}

/** At most 80 characters, control characters shown as escapes: safe to print. */
export function snippet(text: string): string {
  const cut = text.length > 80 ? text.slice(0, 80) + '...' : text;
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Refuses root certificates, keys and chains that are not PEM (grpc-js would ignore or misread them). */
export function checkPem(value: Buffer | undefined, name: string, begin: RegExp, line: string): void {
  if (value === undefined || begin.test(value.toString('latin1'))) return;
  const kind = value.length === 0 ? 'empty' : value[0] === 0x30 ? 'DER (binary), not PEM' : 'not PEM';
  throw new InvalidOptionError(
    `tls: ${name} is ${kind}: expected PEM text with a ${line} line (DER converts with \`openssl x509 -inform der -in FILE -out FILE.pem\`)`,
  );
}

/**
 * The error for a token endpoint that answered with a redirect (never followed: a 307 or 308
 * would resend the client secret to the `Location`), or whose injected `fetch` followed one to
 * another origin; `undefined` for any other answer.
 */
export function redirectRefusal(response: Response, endpoint: URL, tokenUrl: string): AthenaAuthError | undefined {
  if ((response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
    const location = response.headers.get('location');
    const target = location ? describeTarget(location, endpoint) : '(no Location header)';
    return new AthenaAuthError({
      code: 'TOKEN_REDIRECT_REFUSED',
      message:
        `Token endpoint ${tokenUrl} answered HTTP ${response.status} redirecting to ${target}; ` +
        'redirects are not followed (the request carries the client secret): set the token URL to the final address',
      httpStatus: response.status,
      retryable: false,
    });
  }
  if (response.redirected && response.url && originOf(response.url) !== endpoint.origin) {
    return new AthenaAuthError({
      code: 'TOKEN_REDIRECT_REFUSED',
      message: `Token endpoint ${tokenUrl} was redirected to ${describeTarget(response.url, endpoint)}; the token it answered is not used`,
      httpStatus: response.status,
      retryable: false,
    });
  }
  return undefined;
}

/**
 * What a 2xx answer without an `access_token` held: a login page or a proxy's HTML reads very
 * differently from JSON that lacks one field. The snippet is redacted and its control
 * characters escaped. `json` is the parsed body when it was a JSON object.
 */
export function describeTokenlessBody(
  response: Response,
  text: string,
  json: Record<string, unknown> | undefined,
  redact: (t: string) => string,
): string {
  const contentType = response.headers.get('content-type') ?? '(none)';
  if (json) return `a JSON object without an access_token (fields: ${Object.keys(json).slice(0, 10).join(', ') || 'none'})`;
  if (text.trim() === '') return `an empty body (content-type ${contentType})`;
  return `a body that is not a JSON object (content-type ${contentType}), starting '${snippet(redact(text))}'`;
}

/** A token response is a few hundred bytes; more than this is not one (and is not buffered). */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/**
 * The token endpoint's body as text, read up to {@link MAX_TOKEN_RESPONSE_BYTES}: an endpoint
 * that streams without end cannot fill the memory. A body that fails mid-way reads as ''.
 */
export async function readTokenBody(response: Response, tokenUrl: string): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_TOKEN_RESPONSE_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new AthenaAuthError({
          code: response.ok ? 'TOKEN_RESPONSE_INVALID' : 'TOKEN_REQUEST_FAILED',
          message: `Token endpoint ${tokenUrl} answered HTTP ${response.status} with more than ${MAX_TOKEN_RESPONSE_BYTES} bytes; a token response is far smaller`,
          httpStatus: response.status,
          retryable: false,
        });
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof AthenaAuthError) throw err;
    return '';
  }
  return Buffer.concat(chunks).toString('utf8');
}
