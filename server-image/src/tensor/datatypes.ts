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

/** Typed storage for `n` elements of a datatype. */
export function allocate(datatype: Datatype, n: number): TensorData {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(n);
    case 'INT8':
      return new Int8Array(n);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(n);
    case 'INT16':
      return new Int16Array(n);
    case 'UINT32':
      return new Uint32Array(n);
    case 'INT32':
      return new Int32Array(n);
    case 'UINT64':
      return new BigUint64Array(n);
    case 'INT64':
      return new BigInt64Array(n);
    case 'FP32':
      return new Float32Array(n);
    case 'FP64':
      return new Float64Array(n);
    case 'BYTES':
      return new Array<string>(n).fill('');
  }
}
