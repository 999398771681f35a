import { describe, expect, test } from '@jest/globals';
import { greaterThanRegex, lessThanRegex } from '../../src/builders/number-regex.ts';

const THRESHOLDS = [1, 2, 9, 10, 11, 99, 100, 101, 137, 999, 1000, 1001, 86_400_000];

function around(n: number): number[] {
  return [0, 1, n - 10, n - 2, n - 1, n, n + 1, n + 2, n + 10, n * 10, n * 10 + 7].filter((v) => v >= 0);
}

describe('numeric header regexes', () => {
  test.each(THRESHOLDS)('below %d: numbers on both sides of the threshold', (n) => {
    const re = new RegExp(lessThanRegex(n));
    for (const v of around(n)) expect([v, re.test(String(v))]).toEqual([v, v < n]);
  });

  test.each(THRESHOLDS)('above %d: numbers on both sides of the threshold', (n) => {
    const re = new RegExp(greaterThanRegex(n));
    for (const v of around(n)) expect([v, re.test(String(v))]).toEqual([v, v > n]);
  });

  test('exhaustive over 0..20000 for the default thresholds, with and without leading zeros', () => {
    const lt = new RegExp(lessThanRegex(100));
    const gt = new RegExp(greaterThanRegex(1000));
    for (let v = 0; v <= 20_000; v++) {
      if (lt.test(String(v)) !== v < 100 || lt.test(`00${v}`) !== v < 100)
        throw new Error(`below 100 wrong at ${v}`);
      if (gt.test(String(v)) !== v > 1000 || gt.test(`0${v}`) !== v > 1000)
        throw new Error(`above 1000 wrong at ${v}`);
    }
  });

  test('zero and huge values', () => {
    expect(new RegExp(lessThanRegex(100)).test('0')).toBe(true);
    expect(new RegExp(lessThanRegex(100)).test('000')).toBe(true);
    expect(new RegExp(greaterThanRegex(1000)).test('0')).toBe(false);
    const huge = '9'.repeat(40);
    expect(new RegExp(greaterThanRegex(1000)).test(huge)).toBe(true);
    expect(new RegExp(lessThanRegex(100)).test(huge)).toBe(false);
    expect(new RegExp(greaterThanRegex(0)).test('1')).toBe(true);
    expect(new RegExp(greaterThanRegex(0)).test('0')).toBe(false);
  });

  test('non-numbers match neither', () => {
    const lt = new RegExp(lessThanRegex(100));
    const gt = new RegExp(greaterThanRegex(1000));
    for (const bad of ['', '-1', '1.5', '50ms', ' 50', 'abc', '1e9']) {
      expect([bad, lt.test(bad), gt.test(bad)]).toEqual([bad, false, false]);
    }
  });

  test('bad thresholds are refused', () => {
    expect(() => lessThanRegex(0)).toThrow(RangeError);
    expect(() => greaterThanRegex(-1)).toThrow(RangeError);
    expect(() => greaterThanRegex(1.5)).toThrow(RangeError);
  });
});
