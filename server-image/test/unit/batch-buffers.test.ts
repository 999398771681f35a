import { describe, expect, it } from '@jest/globals';
import { BatchBuffers } from '../../src/batch-buffers.ts';

describe('BatchBuffers', () => {
  it('hands a returned buffer out again, cut to the length asked for', () => {
    const pool = new BatchBuffers();
    const first = pool.take('x', Float32Array, 8);
    expect(first).toHaveLength(8);
    pool.give('x', first);
    const again = pool.take('x', Float32Array, 5);
    expect(again).toHaveLength(5);
    expect(again.buffer).toBe(first.buffer);
    // A view comes back whole: the next batch may use all of it.
    pool.give('x', again);
    expect(pool.take('x', Float32Array, 8).buffer).toBe(first.buffer);
  });

  it('never hands out a buffer that is still taken', () => {
    const pool = new BatchBuffers();
    const a = pool.take('x', Float32Array, 4);
    const b = pool.take('x', Float32Array, 4);
    expect(b.buffer).not.toBe(a.buffer);
  });

  it('gives new memory for a bigger batch, another type or another input', () => {
    const pool = new BatchBuffers();
    const small = pool.take('x', Float32Array, 4);
    pool.give('x', small);
    expect(pool.take('x', Float32Array, 16).buffer).not.toBe(small.buffer);
    pool.give('x', small);
    expect(pool.take('x', Int32Array, 4)).toBeInstanceOf(Int32Array);
    expect(pool.take('y', Float32Array, 4).buffer).not.toBe(small.buffer);
  });

  it('keeps only the two largest free buffers of an input', () => {
    const pool = new BatchBuffers();
    const [s, m, l] = [2, 4, 8].map((n) => pool.take('x', Float32Array, n));
    for (const b of [s!, m!, l!]) pool.give('x', b);
    const taken = [
      pool.take('x', Float32Array, 1),
      pool.take('x', Float32Array, 1),
      pool.take('x', Float32Array, 1),
    ];
    expect(taken.map((t) => t.buffer)).toEqual([l!.buffer, m!.buffer, expect.anything()]);
    expect(taken[2]!.buffer).not.toBe(s!.buffer);
  });
});
