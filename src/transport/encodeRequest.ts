/**
 * A hand-written protobuf encoder for `ClassifyRequest` and `ClassificationInput`, the two
 * messages that carry pixels.
 *
 * Why: a batch of 32 raw images is a 19 MB message. protobufjs builds it through `fromObject`
 * (a message object per input and per hash), a linked list of write operations and a final
 * buffer; this encoder measures the message first, allocates it once and writes every field in
 * one pass, copying each image's `data` exactly once. grpc-js then frames it (its own copy, as for
 * any serializer). The buffer is new for every request and never reused or written again after
 * it is returned: grpc-js may hold it (its retry buffer keeps messages up to 1 MiB per call).
 *
 * The output is byte-for-byte what protobufjs writes for the same object (the same field order,
 * the same explicit defaults: protobufjs writes every field the object sets, even `''` or 0),
 * which `test/transport/encodeRequest.spec.ts` checks. Anything outside the shapes this encoder
 * knows (a base64 string or a plain array as `data`, an unknown enum name, a non-string id, a
 * string with a lone surrogate, a message instance) returns `undefined`, and the caller falls
 * back to protobufjs, so the semantics of odd inputs stay exactly protobufjs'.
 */
import {
  HashType,
  ImageFormat,
  RequestEncoding,
  type ClassificationInputInit,
  type ClassifyRequestInit,
  type ImageHash,
} from '../contract/messages';

// Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const TAG_DEPLOYMENT_ID = (1 << 3) | 2;
const TAG_INPUTS = (2 << 3) | 2;
const TAG_AFFILIATE = (1 << 3) | 2;
const TAG_CORRELATION_ID = (2 << 3) | 2;
const TAG_ENCODING = (3 << 3) | 0;
const TAG_DATA = (4 << 3) | 2;
const TAG_FORMAT = (5 << 3) | 0;
const TAG_HASHES = (6 << 3) | 2;
const TAG_HASH_VALUE = (1 << 3) | 2;
const TAG_HASH_TYPE = (2 << 3) | 0;

/** Bytes of a varint for a non-negative integer below 2^32. */
function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** Lone surrogates: protobufjs and Buffer write them differently, so leave them to protobufjs. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 length of an optional string field; -1 when the value is not one this encoder takes. */
function stringLength(s: unknown): number {
  if (s === undefined || s === null) return 0;
  if (typeof s !== 'string' || LONE_SURROGATE.test(s)) return -1;
  return Buffer.byteLength(s, 'utf8');
}

/**
 * The wire number of an enum given by name or number, `null` when absent, or `undefined` when it
 * is something protobufjs would treat differently (an unknown name, a negative or fractional
 * number).
 */
function enumNumber(value: unknown, names: Readonly<Record<string, number>>): number | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 0x7fffffff ? value : undefined;
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(names, value)) return names[value];
  return undefined;
}

const isPlain = (o: unknown): o is Record<string, unknown> => {
  if (o === null || typeof o !== 'object') return false;
  const proto = Object.getPrototypeOf(o) as unknown;
  return proto === Object.prototype || proto === null;
};

/** An input measured: its field lengths and enum numbers, ready to be written. */
interface Measured {
  readonly input: ClassificationInputInit;
  readonly affiliate: number;
  readonly correlationId: number;
  readonly encoding: number | null;
  readonly data: Uint8Array | undefined;
  readonly format: number | null;
  readonly hashes: readonly { value: string | undefined; valueLength: number; type: number | null; size: number }[];
  /** Bytes of the ClassificationInput message body. */
  readonly size: number;
}

function measureInput(input: unknown): Measured | undefined {
  if (!isPlain(input)) return undefined;
  const i = input as ClassificationInputInit;
  const affiliate = stringLength(i.affiliate);
  const correlationId = stringLength(i.correlationId);
  if (affiliate < 0 || correlationId < 0) return undefined;
  const encoding = enumNumber(i.encoding, RequestEncoding);
  const format = enumNumber(i.format, ImageFormat);
  if (encoding === undefined || format === undefined) return undefined;
  let data: Uint8Array | undefined;
  if (i.data !== undefined && i.data !== null) {
    if (!(i.data instanceof Uint8Array)) return undefined;
    data = i.data;
  }
  let size = 0;
  if (i.affiliate != null) size += 1 + varintLength(affiliate) + affiliate;
  if (i.correlationId != null) size += 1 + varintLength(correlationId) + correlationId;
  if (encoding !== null) size += 1 + varintLength(encoding);
  if (data) size += 1 + varintLength(data.length) + data.length;
  if (format !== null) size += 1 + varintLength(format);
  const hashes: Measured['hashes'][number][] = [];
  const list = i.hashes as unknown;
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) return undefined;
    for (const h of list as unknown[]) {
      if (!isPlain(h)) return undefined;
      const hash = h as Partial<ImageHash>;
      const valueLength = stringLength(hash.value);
      const type = enumNumber(hash.type, HashType);
      if (valueLength < 0 || type === undefined) return undefined;
      let hashSize = 0;
      if (hash.value != null) hashSize += 1 + varintLength(valueLength) + valueLength;
      if (type !== null) hashSize += 1 + varintLength(type);
      hashes.push({ value: hash.value ?? undefined, valueLength, type, size: hashSize });
      size += 1 + varintLength(hashSize) + hashSize;
    }
  }
  return { input: i, affiliate, correlationId, encoding, data, format, hashes, size };
}

function writeString(buf: Buffer, pos: number, tag: number, s: string, length: number): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, length);
  return pos + buf.write(s, pos, length, 'utf8');
}

function writeInput(buf: Buffer, pos: number, m: Measured): number {
  const i = m.input;
  if (i.affiliate != null) pos = writeString(buf, pos, TAG_AFFILIATE, i.affiliate, m.affiliate);
  if (i.correlationId != null) pos = writeString(buf, pos, TAG_CORRELATION_ID, i.correlationId, m.correlationId);
  if (m.encoding !== null) {
    buf[pos++] = TAG_ENCODING;
    pos = writeVarint(buf, pos, m.encoding);
  }
  if (m.data) {
    buf[pos++] = TAG_DATA;
    pos = writeVarint(buf, pos, m.data.length);
    buf.set(m.data, pos);
    pos += m.data.length;
  }
  if (m.format !== null) {
    buf[pos++] = TAG_FORMAT;
    pos = writeVarint(buf, pos, m.format);
  }
  for (const h of m.hashes) {
    buf[pos++] = TAG_HASHES;
    pos = writeVarint(buf, pos, h.size);
    if (h.value !== undefined) pos = writeString(buf, pos, TAG_HASH_VALUE, h.value, h.valueLength);
    if (h.type !== null) {
      buf[pos++] = TAG_HASH_TYPE;
      pos = writeVarint(buf, pos, h.type);
    }
  }
  return pos;
}

/** Messages up to 4 GiB fit a uint32 length; grpc-js refuses far smaller ones anyway. */
const MAX_ENCODED = 0xffffffff;

/**
 * Encodes a `ClassifyRequest` in one allocation, or returns `undefined` when the request has a
 * shape this encoder leaves to protobufjs (see the module comment).
 */
export function encodeClassifyRequest(request: ClassifyRequestInit): Buffer | undefined {
  if (!isPlain(request)) return undefined;
  const deploymentId = stringLength(request.deploymentId);
  if (deploymentId < 0) return undefined;
  const list = request.inputs as unknown;
  if (list !== undefined && list !== null && !Array.isArray(list)) return undefined;
  const inputs: Measured[] = [];
  let size = request.deploymentId != null ? 1 + varintLength(deploymentId) + deploymentId : 0;
  for (const input of (list as unknown[] | undefined | null) ?? []) {
    const m = measureInput(input);
    if (!m) return undefined;
    inputs.push(m);
    size += 1 + varintLength(m.size) + m.size;
  }
  if (size > MAX_ENCODED) return undefined;
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (request.deploymentId != null) pos = writeString(buf, pos, TAG_DEPLOYMENT_ID, request.deploymentId as string, deploymentId);
  for (const m of inputs) {
    buf[pos++] = TAG_INPUTS;
    pos = writeVarint(buf, pos, m.size);
    pos = writeInput(buf, pos, m);
  }
  if (pos !== size) throw new Error(`encodeClassifyRequest: wrote ${pos} bytes of ${size}`);
  return buf;
}

/** Encodes a `ClassificationInput` (the `ClassifySingle` request), or `undefined` as above. */
export function encodeClassificationInput(input: ClassificationInputInit): Buffer | undefined {
  const m = measureInput(input);
  if (!m || m.size > MAX_ENCODED) return undefined;
  const buf = Buffer.allocUnsafe(m.size);
  const pos = writeInput(buf, 0, m);
  if (pos !== m.size) throw new Error(`encodeClassificationInput: wrote ${pos} bytes of ${m.size}`);
  return buf;
}

/**
 * A grpc-js request serializer: the hand-written encoder, and `fallback` (protobufjs, from the
 * loaded definition) for the shapes it leaves alone.
 */
export function withFastEncoder<T>(encode: (message: T) => Buffer | undefined, fallback: (message: T) => Buffer): (message: T) => Buffer {
  return (message: T): Buffer => encode(message) ?? fallback(message);
}
