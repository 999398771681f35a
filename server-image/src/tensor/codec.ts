// Tensor contents between the wire (JSON arrays, binary tensor data extension) and the typed
// arrays onnxruntime takes. Every check names the tensor and what was wrong with it.
import { badRequest } from '../errors.ts';
import { DATATYPES, allocate, viewAs } from './datatypes.ts';
import type { Datatype, NumericData, TensorData } from './datatypes.ts';

const INT_RANGES: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  INT8: [-128, 127],
  UINT16: [0, 65535],
  INT16: [-32768, 32767],
  UINT32: [0, 4294967295],
  INT32: [-2147483648, 2147483647],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Float32 values -> IEEE half bits, the layout onnxruntime takes for float16. */
export function toHalfBits(values: ArrayLike<number>): Uint16Array {
  return new Uint16Array(Float16Array.from(values).buffer);
}

export function fromHalfBits(bits: Uint16Array): Float16Array {
  return new Float16Array(bits.buffer, bits.byteOffset, bits.length);
}

const FLOAT_DATATYPES: ReadonlySet<Datatype> = new Set<Datatype>(['FP16', 'FP32', 'FP64']);

/**
 * Whether a tensor sent as `from` may feed a model input of `to`. Float widths convert into one
 * another: the two pools serve one model at different precisions behind one host, and a caller
 * cannot know which pool its request lands on.
 */
export function floatConvertible(from: Datatype, to: Datatype): boolean {
  return FLOAT_DATATYPES.has(from) && FLOAT_DATATYPES.has(to);
}

/** Float storage of `from` -> storage of `to` (identity when equal or not both floats). */
export function convertFloat(data: TensorData, from: Datatype, to: Datatype): TensorData {
  if (from === to || !floatConvertible(from, to)) return data;
  const values = from === 'FP16' ? fromHalfBits(data as Uint16Array) : (data as Float32Array | Float64Array);
  if (to === 'FP16') return toHalfBits(values);
  return to === 'FP32' ? Float32Array.from(values) : Float64Array.from(values);
}

/** JSON `data` (flat or nested, row-major) -> typed storage for `shape`. */
export function decodeJson(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  data: unknown,
): TensorData {
  if (!Array.isArray(data)) throw badRequest(`input '${name}': data must be an array`);
  const flat: unknown[] = data.some(Array.isArray) ? data.flat(shape.length) : data;
  const n = elementCount(shape);
  if (flat.length !== n) {
    throw badRequest(
      `input '${name}': shape [${shape.join(',')}] needs ${n} elements, data has ${flat.length}`,
    );
  }
  const bad = (i: number, what: string) =>
    badRequest(`input '${name}': element ${i} (${JSON.stringify(flat[i]) ?? 'undefined'}) is not ${what}`);

  if (datatype === 'BYTES') {
    const out = allocate(datatype, n) as string[];
    flat.forEach((v, i) => {
      if (typeof v !== 'string') throw bad(i, 'a string');
      out[i] = v;
    });
    return out;
  }
  if (datatype === 'BOOL') {
    const out = new Uint8Array(n);
    flat.forEach((v, i) => {
      if (typeof v !== 'boolean') throw bad(i, 'a boolean');
      out[i] = v ? 1 : 0;
    });
    return out;
  }
  const range = INT_RANGES[datatype];
  const nums = new Float64Array(n);
  flat.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(i, 'a finite number');
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw bad(i, `an integer in [${range[0]}, ${range[1]}] for ${datatype}`);
    }
    nums[i] = v;
  });
  switch (datatype) {
    case 'FP16':
      return toHalfBits(nums);
    case 'INT64':
      return BigInt64Array.from(nums, (v) => BigInt(v));
    case 'UINT64':
      return BigUint64Array.from(nums, (v) => BigInt(v));
    default: {
      const out = allocate(datatype, n) as Exclude<TensorData, string[] | BigInt64Array | BigUint64Array>;
      out.set(nums);
      return out;
    }
  }
}

/**
 * Binary tensor data extension bytes (little-endian, row-major) -> typed storage. The result
 * views `bytes` where they are aligned for the datatype: the caller hands them over and must
 * not change them afterwards (the request's body is the request's own).
 */
export function decodeBinary(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
): TensorData {
  const n = elementCount(shape);
  if (datatype === 'BYTES') {
    // Each element is a 4-byte little-endian length followed by that many bytes.
    const out: string[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const decoder = new TextDecoder();
    let offset = 0;
    while (offset < bytes.length) {
      if (offset + 4 > bytes.length) throw badRequest(`input '${name}': truncated BYTES length prefix`);
      const len = view.getUint32(offset, true);
      offset += 4;
      if (offset + len > bytes.length)
        throw badRequest(`input '${name}': BYTES element longer than its data`);
      out.push(decoder.decode(bytes.subarray(offset, offset + len)));
      offset += len;
    }
    if (out.length !== n) {
      throw badRequest(
        `input '${name}': shape [${shape.join(',')}] needs ${n} elements, data has ${out.length}`,
      );
    }
    return out;
  }
  const size = DATATYPES[datatype].size;
  if (bytes.length !== n * size) {
    throw badRequest(
      `input '${name}': shape [${shape.join(',')}] of ${datatype} needs ${n * size} bytes, binary data has ${bytes.length}`,
    );
  }
  // In place when aligned (readBody places request bodies so), else a copy that is.
  let out = viewAs(datatype, bytes);
  if (!out) {
    out = allocate(datatype, n) as NumericData;
    new Uint8Array(out.buffer).set(bytes);
  }
  if (datatype === 'BOOL' && (out as Uint8Array).some((v) => v > 1)) {
    throw badRequest(`input '${name}': BOOL bytes must be 0 or 1`);
  }
  return out;
}

/** Typed storage -> JSON array (flat, row-major), as the protocol returns outputs. */
export function encodeJson(datatype: Datatype, data: TensorData): unknown[] {
  if (datatype === 'BYTES') return [...(data as string[])];
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'FP16') return Array.from(fromHalfBits(data as Uint16Array));
  if (data instanceof BigInt64Array || data instanceof BigUint64Array)
    return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>);
}

/** Typed storage -> binary tensor data extension bytes. */
export function encodeBinary(datatype: Datatype, data: TensorData): Uint8Array {
  if (datatype === 'BYTES') {
    const encoder = new TextEncoder();
    const parts = (data as string[]).map((s) => encoder.encode(s));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const p of parts) {
      view.setUint32(offset, p.length, true);
      out.set(p, offset + 4);
      offset += 4 + p.length;
    }
    return out;
  }
  const typed = data as Exclude<TensorData, string[]>;
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}
