import { describe, expect, it } from '@jest/globals';
import type { RequestError } from '../../src/errors.ts';
import { splitBody } from '../../src/tensor/body.ts';
import {
  convertFloat,
  decodeBinary,
  decodeJson,
  encodeBinary,
  encodeJson,
  floatConvertible,
  fromHalfBits,
  toHalfBits,
} from '../../src/tensor/codec.ts';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return [(e as RequestError).statusCode, (e as Error).message];
  }
  return 'no error';
};

describe('JSON tensor data', () => {
  it('accepts flat and nested row-major data', () => {
    expect(decodeJson('x', 'FP32', [2, 2], [1, 2, 3, 4])).toEqual(Float32Array.of(1, 2, 3, 4));
    expect(
      decodeJson(
        'x',
        'FP32',
        [2, 2],
        [
          [1, 2],
          [3, 4],
        ],
      ),
    ).toEqual(Float32Array.of(1, 2, 3, 4));
  });

  it('converts each datatype to its storage', () => {
    expect(decodeJson('x', 'INT64', [2], [-3, 9007199254740991])).toEqual(
      BigInt64Array.of(-3n, 9007199254740991n),
    );
    expect(decodeJson('x', 'UINT8', [2], [0, 255])).toEqual(Uint8Array.of(0, 255));
    expect(decodeJson('x', 'INT8', [2], [-128, 127])).toEqual(Int8Array.of(-128, 127));
    expect(decodeJson('x', 'BOOL', [3], [true, false, true])).toEqual(Uint8Array.of(1, 0, 1));
    expect(decodeJson('x', 'BYTES', [2], ['a', 'bc'])).toEqual(['a', 'bc']);
    expect(decodeJson('x', 'FP64', [1], [0.1])).toEqual(Float64Array.of(0.1));
  });

  it('stores FP16 as IEEE half bits and reads them back', () => {
    const bits = decodeJson('x', 'FP16', [3], [1, -2, 0.5]) as Uint16Array;
    expect(Array.from(bits)).toEqual([0x3c00, 0xc000, 0x3800]);
    expect(encodeJson('FP16', bits)).toEqual([1, -2, 0.5]);
    expect(Array.from(fromHalfBits(toHalfBits([65504])))).toEqual([65504]);
  });

  it.each([
    ['FP32', [2], [1], 'shape [2] needs 2 elements, data has 1'],
    ['FP32', [1], ['1'], 'element 0 ("1") is not a finite number'],
    ['INT8', [1], [128], 'is not an integer in [-128, 127] for INT8'],
    ['UINT8', [1], [1.5], 'is not an integer in [0, 255]'],
    ['BOOL', [1], [1], 'is not a boolean'],
    ['BYTES', [1], [1], 'is not a string'],
    ['FP32', [1], [[[1]]], 'is not a finite number'],
  ] as const)('rejects bad %s data with a 400 that says what is wrong', (dt, shape, data, message) => {
    const [code, msg] = status(() => decodeJson('in0', dt, shape, data)) as [number, string];
    expect(code).toBe(400);
    expect(msg).toContain("input 'in0'");
    expect(msg).toContain(message);
  });

  it('rejects data that is not an array', () => {
    expect(status(() => decodeJson('x', 'FP32', [1], { a: 1 }))).toEqual([
      400,
      "input 'x': data must be an array",
    ]);
  });

  it('returns outputs as plain JSON values', () => {
    expect(encodeJson('BOOL', Uint8Array.of(1, 0))).toEqual([true, false]);
    expect(encodeJson('INT64', BigInt64Array.of(5n))).toEqual([5]);
    expect(encodeJson('FP32', Float32Array.of(0.5))).toEqual([0.5]);
  });
});

describe('binary tensor data', () => {
  it('reads little-endian elements of the declared size', () => {
    const bytes = new Uint8Array(new Uint32Array([1, 2, 3, 4]).buffer);
    expect(decodeBinary('x', 'UINT32', [2, 2], bytes)).toEqual(Uint32Array.of(1, 2, 3, 4));
  });

  it('copies out of unaligned request buffers', () => {
    const body = new Uint8Array(9);
    body.set(new Uint8Array(Float32Array.of(1.5, -2).buffer), 1);
    const out = decodeBinary('x', 'FP32', [2], body.subarray(1));
    expect(out).toEqual(Float32Array.of(1.5, -2));
    expect((out as Float32Array).buffer).not.toBe(body.buffer);
  });

  it('views aligned request buffers in place, without a copy', () => {
    const body = new Uint8Array(24);
    body.set(new Uint8Array(Float64Array.of(0.25, -8).buffer), 8);
    const out = decodeBinary('x', 'FP64', [2], body.subarray(8));
    expect(out).toEqual(Float64Array.of(0.25, -8));
    expect((out as Float64Array).buffer).toBe(body.buffer);
    expect((out as Float64Array).byteOffset).toBe(8);
  });

  it('round-trips BYTES with 4-byte length prefixes', () => {
    const enc = encodeBinary('BYTES', ['hi', '']);
    expect(Array.from(enc)).toEqual([2, 0, 0, 0, 104, 105, 0, 0, 0, 0]);
    expect(decodeBinary('x', 'BYTES', [2], enc)).toEqual(['hi', '']);
  });

  it('rejects sizes that do not match the shape, truncated BYTES and non-0/1 BOOL', () => {
    expect(status(() => decodeBinary('x', 'FP32', [2], new Uint8Array(7)))).toEqual([
      400,
      "input 'x': shape [2] of FP32 needs 8 bytes, binary data has 7",
    ]);
    expect(status(() => decodeBinary('x', 'BYTES', [1], Uint8Array.of(5, 0, 0, 0, 1)))).toEqual([
      400,
      "input 'x': BYTES element longer than its data",
    ]);
    expect(status(() => decodeBinary('x', 'BOOL', [1], Uint8Array.of(2)))).toEqual([
      400,
      "input 'x': BOOL bytes must be 0 or 1",
    ]);
  });

  it('encodes FP16 outputs as 2 bytes per element', () => {
    expect(Array.from(encodeBinary('FP16', toHalfBits([1, 2])))).toEqual([0x00, 0x3c, 0x00, 0x40]);
  });
});

describe('splitBody', () => {
  it('parses a JSON body when no header length is given', () => {
    expect(splitBody(Buffer.from('{"a":1}'), undefined)).toEqual({
      header: { a: 1 },
      binary: new Uint8Array(0),
    });
  });

  it('splits JSON header and binary data at Inference-Header-Content-Length', () => {
    const body = Buffer.concat([Buffer.from('{"a":1}'), Buffer.from([1, 2, 3])]);
    const { header, binary } = splitBody(body, '7');
    expect(header).toEqual({ a: 1 });
    expect(Array.from(binary)).toEqual([1, 2, 3]);
  });

  it.each([['-1'], ['abc'], ['100'], ['1.5']])('rejects header length %s', (len) => {
    const [code, msg] = status(() => splitBody(Buffer.from('{}'), len)) as [number, string];
    expect(code).toBe(400);
    expect(msg).toContain('Inference-Header-Content-Length');
  });

  it('rejects malformed JSON with a 400', () => {
    const [code, msg] = status(() => splitBody(Buffer.from('{"a":'), undefined)) as [number, string];
    expect(code).toBe(400);
    expect(msg).toMatch(/^malformed JSON in request body/);
  });
});

describe('float conversion between pools of different precision', () => {
  it('converts FP32 to FP16 bits and FP16 bits to FP64', () => {
    const half = convertFloat(new Float32Array([1, -2, 0.5]), 'FP32', 'FP16');
    expect(half).toBeInstanceOf(Uint16Array);
    expect(Array.from(fromHalfBits(half as Uint16Array))).toEqual([1, -2, 0.5]);
    expect(Array.from(convertFloat(half, 'FP16', 'FP64') as Float64Array)).toEqual([1, -2, 0.5]);
  });

  it('never converts between floats and integers', () => {
    expect(floatConvertible('FP32', 'FP16')).toBe(true);
    expect(floatConvertible('INT32', 'FP32')).toBe(false);
    expect(floatConvertible('FP32', 'INT8')).toBe(false);
    const ints = new Int32Array([1]);
    expect(convertFloat(ints, 'INT32', 'FP32')).toBe(ints);
  });
});
