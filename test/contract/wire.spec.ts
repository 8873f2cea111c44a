/**
 * The bytes on the wire against the contract (athena-api.md section 1), field by field.
 *
 * Each message is encoded with the serializers grpc-js uses (from the loaded definition) and its
 * tags are decoded by hand below, so the expected field numbers and wire types are written here
 * from the contract, independently of the .proto: a wrong number in the .proto cannot pass.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { classifierServiceDefinition, protoRoot } from '../../src/contract/load';
import { ErrorCode, HashType, ImageFormat, RequestEncoding } from '../../src/contract/messages';

// Wire types (protobuf encoding spec).
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

interface Field {
  readonly field: number;
  readonly wireType: number;
  /** varint value, or the raw bytes of LEN / I32 / I64 fields. */
  readonly value: bigint | Buffer;
}

function readVarint(buf: Buffer, at: { pos: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (at.pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[at.pos++] as number;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
  }
}

/** Splits one message into its fields, in order (no schema involved). */
function decode(buf: Buffer): Field[] {
  const fields: Field[] = [];
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const tag = readVarint(buf, at);
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    let value: bigint | Buffer;
    switch (wireType) {
      case VARINT:
        value = readVarint(buf, at);
        break;
      case LEN: {
        const len = Number(readVarint(buf, at));
        value = buf.subarray(at.pos, at.pos + len);
        at.pos += len;
        break;
      }
      case I32:
        value = buf.subarray(at.pos, at.pos + 4);
        at.pos += 4;
        break;
      case I64:
        value = buf.subarray(at.pos, at.pos + 8);
        at.pos += 8;
        break;
      default:
        throw new Error(`unexpected wire type ${wireType} at byte ${at.pos}`);
    }
    fields.push({ field, wireType, value });
  }
  return fields;
}

/** The (field, wire type) pairs of a message, in order. */
const tags = (buf: Buffer): Array<[number, number]> => decode(buf).map((f) => [f.field, f.wireType]);
const only = (buf: Buffer, field: number): Field[] => decode(buf).filter((f) => f.field === field);
const bytesOf = (f: Field | undefined): Buffer => {
  if (!f || !Buffer.isBuffer(f.value)) throw new Error('not a length-delimited field');
  return f.value;
};
const text = (f: Field | undefined): string => bytesOf(f).toString('utf8');
const varint = (f: Field | undefined): number => {
  if (!f || typeof f.value !== 'bigint') throw new Error('not a varint field');
  return Number(f.value);
};

const service = classifierServiceDefinition();
const encode = {
  classifyRequest: (m: object) => service.Classify.requestSerialize(m),
  classifyResponse: (m: object) => service.Classify.responseSerialize(m),
  classificationInput: (m: object) => service.ClassifySingle.requestSerialize(m),
  classificationOutput: (m: object) => service.ClassifySingle.responseSerialize(m),
  empty: (m: object) => service.ListDeployments.requestSerialize(m),
  listDeploymentsResponse: (m: object) => service.ListDeployments.responseSerialize(m),
};

describe('wire contract (athena-api.md section 1)', () => {
  it('ClassificationInput: affiliate=1, correlation_id=2, encoding=3, data=4, format=5, hashes=6 (ImageHash value=1, type=2)', () => {
    const buf = encode.classificationInput({
      affiliate: 'aff',
      correlationId: 'c-1',
      encoding: 'REQUEST_ENCODING_BROTLI',
      data: Buffer.from([1, 2, 3]),
      format: 'IMAGE_FORMAT_RAW_UINT8_BGR',
      hashes: [
        { value: 'abc', type: 'HASH_TYPE_MD5' },
        { value: 'def', type: 'HASH_TYPE_SHA1' },
      ],
    });
    expect(tags(buf)).toEqual([
      [1, LEN],
      [2, LEN],
      [3, VARINT],
      [4, LEN],
      [5, VARINT],
      [6, LEN],
      [6, LEN],
    ]);
    const f = decode(buf);
    expect(text(f[0])).toBe('aff');
    expect(text(f[1])).toBe('c-1');
    expect(varint(f[2])).toBe(2);
    expect([...bytesOf(f[3])]).toEqual([1, 2, 3]);
    expect(varint(f[4])).toBe(19);
    const hash = decode(bytesOf(f[5]));
    expect(hash.map((h) => [h.field, h.wireType])).toEqual([
      [1, LEN],
      [2, VARINT],
    ]);
    expect(text(hash[0])).toBe('abc');
    expect(varint(hash[1])).toBe(1);
    expect(varint(decode(bytesOf(f[6]))[1])).toBe(2);
  });

  it('ClassifyRequest: deployment_id=1, inputs=2 (repeated ClassificationInput)', () => {
    const buf = encode.classifyRequest({
      deploymentId: 'dep',
      inputs: [{ correlationId: 'a' }, { correlationId: 'b' }],
    });
    expect(tags(buf)).toEqual([
      [1, LEN],
      [2, LEN],
      [2, LEN],
    ]);
    const f = decode(buf);
    expect(text(f[0])).toBe('dep');
    expect(tags(bytesOf(f[1]))).toEqual([[2, LEN]]);
    expect(text(decode(bytesOf(f[2]))[0])).toBe('b');
  });

  it('ClassifyResponse: global_error=1 (ClassificationError code=1, message=2, details=3), outputs=2', () => {
    const withError = encode.classifyResponse({
      globalError: { code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED', message: 'no', details: 'why' },
    });
    expect(tags(withError)).toEqual([[1, LEN]]);
    const err = decode(bytesOf(only(withError, 1)[0]));
    expect(err.map((e) => [e.field, e.wireType])).toEqual([
      [1, VARINT],
      [2, LEN],
      [3, LEN],
    ]);
    expect(varint(err[0])).toBe(4);
    expect(text(err[1])).toBe('no');
    expect(text(err[2])).toBe('why');

    const withOutputs = encode.classifyResponse({ outputs: [{ correlationId: 'x' }, { correlationId: 'y' }] });
    expect(tags(withOutputs)).toEqual([
      [2, LEN],
      [2, LEN],
    ]);
  });

  it('ClassificationOutput: correlation_id=1, classifications=2 (Classification label=1, weight=2 float), error=3', () => {
    const buf = encode.classificationOutput({
      correlationId: 'c',
      classifications: [{ label: 'UnknownCSAM-Ducks', weight: 0.25 }],
      error: { code: 'ERROR_CODE_MODEL_ERROR', message: 'm', details: '' },
    });
    expect(tags(buf)).toEqual([
      [1, LEN],
      [2, LEN],
      [3, LEN],
    ]);
    const c = decode(bytesOf(only(buf, 2)[0]));
    // weight is a 32-bit float: wire type 5 (I32), not a double (1) or a varint.
    expect(c.map((x) => [x.field, x.wireType])).toEqual([
      [1, LEN],
      [2, I32],
    ]);
    expect(text(c[0])).toBe('UnknownCSAM-Ducks');
    expect(bytesOf(c[1]).readFloatLE(0)).toBe(0.25);
    expect(varint(decode(bytesOf(only(buf, 3)[0]))[0])).toBe(3);
  });

  it('ListDeploymentsResponse: deployments=1 (Deployment deployment_id=1, backlog=2 int32)', () => {
    const buf = encode.listDeploymentsResponse({ deployments: [{ deploymentId: 'd', backlog: 7 }] });
    expect(tags(buf)).toEqual([[1, LEN]]);
    const dep = decode(bytesOf(decode(buf)[0]));
    expect(dep.map((x) => [x.field, x.wireType])).toEqual([
      [1, LEN],
      [2, VARINT],
    ]);
    expect(text(dep[0])).toBe('d');
    expect(varint(dep[1])).toBe(7);
    // int32, not sint32: a negative backlog would be a 10-byte two's complement varint.
    const negative = decode(bytesOf(decode(encode.listDeploymentsResponse({ deployments: [{ backlog: -1 }] }))[0]));
    expect(negative[0]?.value).toBe(2n ** 64n - 1n);
  });

  it('google.protobuf.Empty encodes to no bytes', () => {
    expect(encode.empty({}).length).toBe(0);
  });

  // The numbers below are copied from the contract, not from src/contract/messages.ts.
  const contractEnums = {
    ErrorCode: {
      ERROR_CODE_UNSPECIFIED: 0,
      ERROR_CODE_IMAGE_TOO_LARGE: 2,
      ERROR_CODE_MODEL_ERROR: 3,
      ERROR_CODE_AFFILIATE_NOT_PERMITTED: 4,
      ERROR_CODE_DEPLOYMENT_ID_INVALID: 5,
      ERROR_CODE_CORRELATION_ID_INVALID: 6,
    },
    RequestEncoding: { REQUEST_ENCODING_UNSPECIFIED: 0, REQUEST_ENCODING_UNCOMPRESSED: 1, REQUEST_ENCODING_BROTLI: 2 },
    ImageFormat: Object.fromEntries(
      (
        [
          ['UNSPECIFIED', 0],
          ['GIF', 1],
          ['JPEG', 2],
          ['BMP', 3],
          ['DIB', 4],
          ['PNG', 5],
          ['WEBP', 6],
          ['PBM', 7],
          ['PGM', 8],
          ['PPM', 9],
          ['PXM', 10],
          ['PNM', 11],
          ['PFM', 12],
          ['SR', 13],
          ['RAS', 14],
          ['TIFF', 15],
          ['HDR', 16],
          ['PIC', 17],
          ['RAW_UINT8_BGR', 19],
        ] as const
      ).map(([n, v]) => [`IMAGE_FORMAT_${n}`, v]),
    ),
    HashType: { HASH_TYPE_UNKNOWN: 0, HASH_TYPE_MD5: 1, HASH_TYPE_SHA1: 2 },
  } as const;

  // Encode each value in the field that carries it; proto3 leaves a 0 value off the wire.
  const wireValue: Record<keyof typeof contractEnums, (name: string) => number> = {
    ErrorCode: (name) => {
      const f = only(encode.classificationOutput({ error: { code: name } }), 3)[0];
      return f ? varint(only(bytesOf(f), 1)[0] ?? { field: 1, wireType: 0, value: 0n }) : -1;
    },
    RequestEncoding: (name) => varint(only(encode.classificationInput({ encoding: name }), 3)[0] ?? { field: 3, wireType: 0, value: 0n }),
    ImageFormat: (name) => varint(only(encode.classificationInput({ format: name }), 5)[0] ?? { field: 5, wireType: 0, value: 0n }),
    HashType: (name) =>
      varint(
        only(bytesOf(only(encode.classificationInput({ hashes: [{ value: 'a', type: name }] }), 6)[0]), 2)[0] ?? {
          field: 2,
          wireType: 0,
          value: 0n,
        },
      ),
  };

  for (const [enumName, values] of Object.entries(contractEnums) as Array<[keyof typeof contractEnums, Record<string, number>]>) {
    it(`${enumName}: every value goes on the wire with its contract number`, () => {
      for (const [name, number] of Object.entries(values)) {
        expect([name, wireValue[enumName](name)]).toEqual([name, number]);
      }
    });
  }

  it('the TypeScript enums match the contract exactly (no extra, none missing)', () => {
    expect(ErrorCode).toEqual(contractEnums.ErrorCode);
    expect(RequestEncoding).toEqual(contractEnums.RequestEncoding);
    expect(ImageFormat).toEqual(contractEnums.ImageFormat);
    expect(HashType).toEqual(contractEnums.HashType);
  });

  it('ImageFormat keeps 18 reserved, and ErrorCode has no 1', () => {
    const root = protobuf.loadSync(path.join(protoRoot(), 'athena', 'models.proto'));
    const imageFormat = root.lookupEnum('athena.ImageFormat');
    expect(imageFormat.reserved).toContainEqual([18, 18]);
    expect(Object.values(imageFormat.values)).not.toContain(18);
    expect(Object.values(root.lookupEnum('athena.ErrorCode').values)).not.toContain(1);
    // Every value of the loaded .proto is one the contract lists, with the same number.
    for (const enumName of Object.keys(contractEnums) as Array<keyof typeof contractEnums>) {
      expect(root.lookupEnum(`athena.${enumName}`).values).toEqual(contractEnums[enumName]);
    }
  });
});
