/**
 * TypeScript shapes of the Athena wire messages, as `@grpc/proto-loader` presents them with the
 * options in `./load` (camelCase fields, enums as their names, bytes as `Buffer`).
 *
 * Decoded messages always carry every field (absent messages decode as `null`); messages built
 * for sending may leave fields out, and enums may be given by name or by number.
 */

/** Every `ErrorCode` of the contract by name, with its wire number. There is no 1. */
export const ErrorCode = {
  ERROR_CODE_UNSPECIFIED: 0,
  ERROR_CODE_IMAGE_TOO_LARGE: 2,
  ERROR_CODE_MODEL_ERROR: 3,
  ERROR_CODE_AFFILIATE_NOT_PERMITTED: 4,
  ERROR_CODE_DEPLOYMENT_ID_INVALID: 5,
  ERROR_CODE_CORRELATION_ID_INVALID: 6,
} as const;
/** An `ErrorCode` by name, as decoded messages carry it. */
export type ErrorCode = keyof typeof ErrorCode;

/** Every `RequestEncoding` of the contract: how `ClassificationInput.data` is compressed. */
export const RequestEncoding = {
  /** Treated as uncompressed. */
  REQUEST_ENCODING_UNSPECIFIED: 0,
  REQUEST_ENCODING_UNCOMPRESSED: 1,
  REQUEST_ENCODING_BROTLI: 2,
} as const;
/** A `RequestEncoding` by name. */
export type RequestEncoding = keyof typeof RequestEncoding;

/** Every `ImageFormat` of the contract. 18 is reserved (a retired channel order). */
export const ImageFormat = {
  IMAGE_FORMAT_UNSPECIFIED: 0,
  IMAGE_FORMAT_GIF: 1,
  IMAGE_FORMAT_JPEG: 2,
  IMAGE_FORMAT_BMP: 3,
  IMAGE_FORMAT_DIB: 4,
  IMAGE_FORMAT_PNG: 5,
  IMAGE_FORMAT_WEBP: 6,
  IMAGE_FORMAT_PBM: 7,
  IMAGE_FORMAT_PGM: 8,
  IMAGE_FORMAT_PPM: 9,
  IMAGE_FORMAT_PXM: 10,
  IMAGE_FORMAT_PNM: 11,
  IMAGE_FORMAT_PFM: 12,
  IMAGE_FORMAT_SR: 13,
  IMAGE_FORMAT_RAS: 14,
  IMAGE_FORMAT_TIFF: 15,
  IMAGE_FORMAT_HDR: 16,
  IMAGE_FORMAT_PIC: 17,
  IMAGE_FORMAT_RAW_UINT8_BGR: 19,
} as const;
/** An `ImageFormat` by name: what `ClassificationInput.data` holds. */
export type ImageFormat = keyof typeof ImageFormat;

/** Every `HashType` of the contract: the algorithm of an `ImageHash`. */
export const HashType = {
  HASH_TYPE_UNKNOWN: 0,
  HASH_TYPE_MD5: 1,
  HASH_TYPE_SHA1: 2,
} as const;
/** A `HashType` by name. */
export type HashType = keyof typeof HashType;

/** Side length of the pixels the service classifies. */
export const IMAGE_SIDE = 448;
/** Bytes of one raw 448x448 BGR image (`IMAGE_FORMAT_RAW_UINT8_BGR`). */
export const RAW_IMAGE_BYTES = IMAGE_SIDE * IMAGE_SIDE * 3;
/** Longest deployment or correlation id the service accepts. */
export const MAX_ID_LENGTH = 64;

/** A hash of the original file, which the service matches against known images. */
export interface ImageHash {
  /** Lower-case hex. */
  value: string;
  type: HashType;
}

/** One image of a request: who sends it, its id for the answer, and its bytes. */
export interface ClassificationInput {
  affiliate: string;
  correlationId: string;
  encoding: RequestEncoding;
  data: Buffer;
  format: ImageFormat;
  hashes: ImageHash[];
}

/** One message of the `Classify` stream: a batch of images for one deployment. */
export interface ClassifyRequest {
  deploymentId: string;
  inputs: ClassificationInput[];
}

/** One label and its weight in an image's answer. */
export interface Classification {
  label: string;
  weight: number;
}

/** Why an image (or, as `globalError`, a whole request) was not classified. */
export interface ClassificationError {
  code: ErrorCode;
  message: string;
  details: string;
}

/** The answer for one image, matched to it by `correlationId`. */
export interface ClassificationOutput {
  correlationId: string;
  classifications: Classification[];
  /** `null` when the image was classified. */
  error: ClassificationError | null;
}

/** One message of the `Classify` response stream: answers, possibly for several requests. */
export interface ClassifyResponse {
  /** Set when the whole request failed; `outputs` is then empty. */
  globalError: ClassificationError | null;
  outputs: ClassificationOutput[];
}

/** A deployment as `ListDeployments` reports it. */
export interface Deployment {
  deploymentId: string;
  /** Responses waiting in the deployment. */
  backlog: number;
}

/** The answer of `ListDeployments`. */
export interface ListDeploymentsResponse {
  deployments: Deployment[];
}

/** An input as a caller builds it for sending: proto3 fills absent fields with their defaults. */
export type ClassificationInputInit = Partial<ClassificationInput>;

/** A request as a caller builds it for sending (`ClassifyRequest` is one too). */
export interface ClassifyRequestInit {
  deploymentId?: string;
  inputs?: ClassificationInputInit[];
}
