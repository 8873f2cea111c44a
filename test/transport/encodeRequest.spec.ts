/**
 * The hand-written request encoder against protobufjs (the serializers grpc-js would otherwise use,
 * from the loaded definition): the same bytes for every shape it takes, `undefined` (so the
 * client falls back to protobufjs) for every shape it does not, and a new buffer per call.
 */
import { randomBytes } from 'node:crypto';
import { classifierServiceDefinition } from '../../src/contract/load';
import { RAW_IMAGE_BYTES, type ClassificationInputInit, type ClassifyRequestInit } from '../../src/contract/messages';
import { encodeClassificationInput, encodeClassifyRequest, withFastEncoder } from '../../src/transport/encodeRequest';

const service = classifierServiceDefinition();
const protobufRequest = (m: ClassifyRequestInit): Buffer => service.Classify.requestSerialize(m);
const protobufInput = (m: ClassificationInputInit): Buffer => service.ClassifySingle.requestSerialize(m);

const image = (i: number, data: Buffer): ClassificationInputInit => ({
  affiliate: 'acme',
  correlationId: `k3x9q2mz-9f86d081884c7d65-${i.toString(36)}`,
  encoding: 'REQUEST_ENCODING_UNCOMPRESSED',
  data,
  format: 'IMAGE_FORMAT_RAW_UINT8_BGR',
  hashes: [
    { value: 'd41d8cd98f00b204e9800998ecf8427e', type: 'HASH_TYPE_MD5' },
    { value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709', type: 'HASH_TYPE_SHA1' },
  ],
});

/** Inputs as JavaScript callers may build them (enums by number, partial hashes, a Uint8Array). */
const loose = (o: object): ClassificationInputInit => o as ClassificationInputInit;

/** Shapes the encoder writes itself; each must equal protobufjs' bytes. */
const inputs: Array<[string, ClassificationInputInit]> = [
  ['a prepared raw image, as classify() sends it', image(1, randomBytes(RAW_IMAGE_BYTES))],
  ['Brotli data', { ...image(2, randomBytes(1000)), encoding: 'REQUEST_ENCODING_BROTLI' }],
  ['enums by number', loose({ correlationId: 'n', encoding: 2, format: 5, data: Buffer.from([1]), hashes: [{ value: 'v', type: 1 }] })],
  [
    'enums at 0 (written explicitly, as protobufjs does)',
    loose({ correlationId: 'z', encoding: 'REQUEST_ENCODING_UNSPECIFIED', format: 0 }),
  ],
  ['an unlisted enum number', { correlationId: 'u', format: 18 as unknown as 'IMAGE_FORMAT_UNSPECIFIED' }],
  ['empty strings and empty data (written explicitly)', { affiliate: '', correlationId: '', data: Buffer.alloc(0) }],
  ['absent and null fields (left out)', { correlationId: 'only', affiliate: undefined, data: null as unknown as Buffer, hashes: [] }],
  ['a Uint8Array as data', loose({ correlationId: 'u8', data: new Uint8Array([9, 8, 7]), format: 'IMAGE_FORMAT_PNG' })],
  ['non-ASCII ids (UTF-8, 2-4 bytes per character)', { affiliate: 'café', correlationId: 'über-画像-😀', data: Buffer.from([0]) }],
  ['a hash without a type, a hash without a value', loose({ correlationId: 'h', hashes: [{ value: 'ab' }, { type: 'HASH_TYPE_SHA1' }] })],
  ['data of 127 and 128 bytes (the varint length grows)', { correlationId: 'l', data: Buffer.alloc(128, 1).subarray(1) }],
  ['a 16,384-byte id-less input', { data: Buffer.alloc(16_384, 3) }],
  ['an empty object', {}],
];

describe('encodeClassifyRequest / encodeClassificationInput: the bytes protobufjs writes', () => {
  it.each(inputs)('ClassificationInput: %s', (_name, input) => {
    const ours = encodeClassificationInput(input);
    expect(ours).toBeInstanceOf(Buffer);
    expect((ours as Buffer).equals(protobufInput(input))).toBe(true);
  });

  it('a batch of 32 raw images, as classify() writes it', () => {
    const request = { deploymentId: 'deployment-1', inputs: Array.from({ length: 32 }, (_, i) => image(i, randomBytes(RAW_IMAGE_BYTES))) };
    const ours = encodeClassifyRequest(request) as Buffer;
    const theirs = protobufRequest(request);
    expect(ours.length).toBe(theirs.length);
    expect(ours.equals(theirs)).toBe(true);
  });

  it.each([
    ['every input shape above in one request', { deploymentId: 'd', inputs: inputs.map(([, i]) => i) }],
    ['the keep-alive (no inputs)', { deploymentId: 'd', inputs: [] }],
    ['no deployment id (a client default fills it later)', { inputs: [{ correlationId: 'x' }] }],
    ['an empty deployment id', { deploymentId: '', inputs: [{ correlationId: 'x' }] }],
    ['an empty request', {}],
  ] as Array<[string, ClassifyRequestInit]>)('ClassifyRequest: %s', (_name, request) => {
    const ours = encodeClassifyRequest(request);
    expect(ours).toBeInstanceOf(Buffer);
    expect((ours as Buffer).equals(protobufRequest(request))).toBe(true);
  });

  it('copies the pixels: changing the image after encoding does not change the request', () => {
    const data = Buffer.alloc(100, 7);
    const encoded = encodeClassifyRequest({ deploymentId: 'd', inputs: [{ correlationId: 'c', data }] }) as Buffer;
    const before = Buffer.from(encoded);
    data.fill(0);
    expect(encoded.equals(before)).toBe(true);
  });

  it('returns a new buffer for every request (grpc-js may still hold the previous one)', () => {
    const request = { deploymentId: 'd', inputs: [image(1, randomBytes(RAW_IMAGE_BYTES))] };
    const a = encodeClassifyRequest(request) as Buffer;
    const b = encodeClassifyRequest(request) as Buffer;
    expect(a.equals(b)).toBe(true);
    expect(a.buffer).not.toBe(b.buffer);
  });
});

describe('shapes left to protobufjs (the encoder returns undefined; the serializer falls back)', () => {
  const outcome = (f: () => Buffer): string => {
    try {
      return f().toString('hex');
    } catch (error) {
      return `throws ${(error as Error).message}`;
    }
  };
  const odd: Array<[string, ClassificationInputInit]> = [
    ['base64 data', { correlationId: 'b', data: 'AQID' as unknown as Buffer }],
    ['an array of numbers as data', { correlationId: 'a', data: [1, 2, 3] as unknown as Buffer }],
    ['an unknown enum name', { correlationId: 'e', format: 'IMAGE_FORMAT_AVIF' as unknown as 'IMAGE_FORMAT_PNG' }],
    ['a negative enum number', { correlationId: 'e', encoding: -1 as unknown as 'REQUEST_ENCODING_BROTLI' }],
    ['a number as id', { correlationId: 42 as unknown as string }],
    ['a lone surrogate in an id', { correlationId: 'x\uD800y' }],
    ['a lone low surrogate', { correlationId: '\uDC00x' }],
    ['hashes with a string in them', { correlationId: 'h', hashes: ['d41d8cd98f00b204e9800998ecf8427e'] as unknown as [] }],
  ];

  it.each(odd)('%s', (_name, input) => {
    expect(encodeClassificationInput(input)).toBeUndefined();
    expect(encodeClassifyRequest({ deploymentId: 'd', inputs: [input] })).toBeUndefined();
    // What the client sends instead: exactly protobufjs' bytes (or its error).
    const serialize = withFastEncoder(encodeClassifyRequest, protobufRequest);
    const request = { deploymentId: 'd', inputs: [input] };
    expect(outcome(() => serialize(request))).toEqual(outcome(() => protobufRequest(request)));
  });

  it('hashes that are not an array: the same TypeError as protobufjs', () => {
    const request = { deploymentId: 'd', inputs: [{ correlationId: 'h', hashes: {} as unknown as [] }] };
    expect(encodeClassifyRequest(request)).toBeUndefined();
    const serialize = withFastEncoder(encodeClassifyRequest, protobufRequest);
    expect(() => serialize(request)).toThrow(/hashes: array expected/);
  });

  it('a class instance as the request', () => {
    class Request {
      deploymentId = 'd';
      inputs = [];
    }
    expect(encodeClassifyRequest(new Request())).toBeUndefined();
  });
});
