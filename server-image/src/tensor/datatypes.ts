// Open Inference Protocol datatypes and their onnxruntime twins.
import type { Tensor } from 'onnxruntime-node';

export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** Element storage handed to onnxruntime (float16 as raw bits in Uint16Array, see ort.ts). */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

interface Info {
  ort: Tensor.Type;
  /** Bytes per element in the binary extension; 0 for BYTES (length-prefixed). */
  size: number;
}

export const DATATYPES: Record<Datatype, Info> = {
  BOOL: { ort: 'bool', size: 1 },
  UINT8: { ort: 'uint8', size: 1 },
  UINT16: { ort: 'uint16', size: 2 },
  UINT32: { ort: 'uint32', size: 4 },
  UINT64: { ort: 'uint64', size: 8 },
  INT8: { ort: 'int8', size: 1 },
  INT16: { ort: 'int16', size: 2 },
  INT32: { ort: 'int32', size: 4 },
  INT64: { ort: 'int64', size: 8 },
  FP16: { ort: 'float16', size: 2 },
  FP32: { ort: 'float32', size: 4 },
  FP64: { ort: 'float64', size: 8 },
  BYTES: { ort: 'string', size: 0 },
};

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === 'string' && Object.hasOwn(DATATYPES, s);
}

export function datatypeOfOrt(type: string): Datatype | undefined {
  for (const [d, info] of Object.entries(DATATYPES)) if (info.ort === type) return d as Datatype;
  return undefined;
}

export type NumericData = Exclude<TensorData, string[]>;

interface TypedArrayOf {
  new (length: number): NumericData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericData;
}

/** The typed array each numeric datatype is stored in. */
const TYPED_ARRAYS: Record<Exclude<Datatype, 'BYTES'>, TypedArrayOf> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  FP16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** Typed storage for `n` elements of a datatype. */
export function allocate(datatype: Datatype, n: number): TensorData {
  if (datatype === 'BYTES') return new Array<string>(n).fill('');
  return new TYPED_ARRAYS[datatype](n);
}

/**
 * The elements of a numeric datatype read in place from `bytes` (little-endian, as this host
 * is), without copying; undefined when `bytes` does not start on a multiple of the element
 * size, where a typed array cannot view it.
 */
export function viewAs(datatype: Exclude<Datatype, 'BYTES'>, bytes: Uint8Array): NumericData | undefined {
  const size = DATATYPES[datatype].size;
  if (bytes.byteOffset % size !== 0 || bytes.byteLength % size !== 0) return undefined;
  return new TYPED_ARRAYS[datatype](bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}
