import { describe, expect, it } from '@jest/globals';
import { parseQuantity } from '../../../agent/src/quantity.ts';

describe('parseQuantity', () => {
  it('reads decimal and binary suffixes', () => {
    expect(parseQuantity('500m')).toBeCloseTo(0.5);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('64Mi')).toBe(64 * 2 ** 20);
    expect(parseQuantity('1G')).toBe(1e9);
  });
  it('rejects what is not a quantity', () => {
    expect(() => parseQuantity('lots')).toThrow(/"lots" is not a resource quantity/);
  });
});
