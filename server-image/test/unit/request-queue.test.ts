import { describe, expect, it } from '@jest/globals';
import { priorityLevel, RequestQueue } from '../../src/request-queue.ts';
import type { Priority } from '../../src/request-queue.ts';

const item = (id: string, rows = 1, key = '', priority: Priority = 'default') => ({
  id,
  rows,
  key,
  level: priorityLevel(priority),
});
type Item = ReturnType<typeof item>;
const ids = (xs: Iterable<Item>) => [...xs].map((x) => x.id);

describe('RequestQueue', () => {
  it('orders by priority level, first come first served within one', () => {
    const q = new RequestQueue<Item>();
    q.push(item('b1', 1, '', 'batch'));
    q.push(item('d1'));
    q.push(item('r1', 1, '', 'real-time'));
    q.push(item('d2'));
    q.push(item('r2', 1, '', 'real-time'));
    expect(ids(q)).toEqual(['r1', 'r2', 'd1', 'd2', 'b1']);
    expect(q.head()!.id).toBe('r1');
    expect(q.rowsAhead(priorityLevel('default'))).toBe(4);
    expect(q.rowsAhead(priorityLevel('real-time'))).toBe(2);
  });

  it('counts rows in all and per key, as items come and go', () => {
    const q = new RequestQueue<Item>();
    const a = item('a', 3, 'x');
    q.push(a);
    q.push(item('b', 2, 'y'));
    expect([q.rows, q.rowsOf('x'), q.rowsOf('y')]).toEqual([5, 3, 2]);
    expect(q.remove(a)).toBe(true);
    expect(q.remove(a)).toBe(false);
    expect([q.rows, q.rowsOf('x'), q.length]).toEqual([2, 0, 1]);
  });

  it('takes a batch: the seed first, then its key in order, until one does not fit in rows', () => {
    const q = new RequestQueue<Item>();
    const xs = [
      item('a', 1, 'k'),
      item('o', 1, 'other'),
      item('b', 2, 'k'),
      item('c', 2, 'k'),
      item('d', 1, 'k'),
    ];
    xs.forEach((x) => q.push(x));
    const seed = xs[2]!;
    expect(ids(q.take(seed, 4, () => true))).toEqual(['b', 'a']);
    // c (2 rows) does not fit beside b + a; d, smaller, does not overtake it.
    expect(ids(q)).toEqual(['o', 'c', 'd']);
    expect(ids(q.take(q.head()!, 4, () => true))).toEqual(['o']);
    q.push(item('e', 1, 'k'));
    // Passed over, not stopped at: what `fits` refuses stays queued, the rest still joins.
    expect(ids(q.take(q.head()!, 4, (next) => next.id !== 'd'))).toEqual(['c', 'e']);
    expect(ids(q)).toEqual(['d']);
  });

  it('finds the newest lower-priority items to make room, or says there are not enough', () => {
    const q = new RequestQueue<Item>();
    q.push(item('b1', 2, '', 'batch'));
    q.push(item('d1', 1));
    q.push(item('b2', 1, '', 'batch'));
    expect(ids(q.evictable(priorityLevel('real-time'), 1, 4)!)).toEqual(['b2']);
    expect(ids(q.evictable(priorityLevel('real-time'), 3, 4)!)).toEqual(['b2', 'b1']);
    expect(ids(q.evictable(priorityLevel('default'), 1, 4)!)).toEqual(['b2']);
    expect(ids(q.evictable(priorityLevel('default'), 2, 4)!)).toEqual(['b2', 'b1']);
    expect(q.evictable(priorityLevel('batch'), 1, 4)).toBeUndefined();
    expect(q.evictable(priorityLevel('real-time'), 5, 4)).toBeUndefined();
    expect(q.evictable(priorityLevel('batch'), 1, 5)).toEqual([]);
  });
});
