import { describe, expect, test } from '@jest/globals';
import { WorkQueue, type Timers } from '../../src/controller/queue.ts';

/** Timers that fire only when the test advances them. */
class ManualTimers implements Timers {
  now = 0;
  private next = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  readonly delays: number[] = [];
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    this.delays.push(ms);
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, t] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.now) {
        this.pending.delete(id);
        t.fn();
      }
    }
  }
  get size(): number {
    return this.pending.size;
  }
}

function queue(timers = new ManualTimers()) {
  return { q: new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, timers }), timers };
}

describe('WorkQueue', () => {
  test('duplicates collapse and order is kept', async () => {
    const { q } = queue();
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  test('a key is never handed out twice at once; an add while in flight runs it again after done', async () => {
    const { q } = queue();
    q.add('k');
    const k = await q.get();
    q.add('k');
    expect(q.depth).toBe(0);
    q.done(k ?? '');
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('k');
  });

  test('a waiting worker is woken by add', async () => {
    const { q } = queue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  test('failures back off exponentially per key, capped, and forget resets', () => {
    const { q, timers } = queue();
    expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('k'))).toEqual([100, 200, 400, 800, 1000, 1000]);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(100);
    expect(q.addRateLimited('other')).toBe(100);
    expect(timers.size).toBeGreaterThan(0);
  });

  test('addAfter adds when the timer fires; the earlier of two delayed adds wins', () => {
    const { q, timers } = queue();
    q.addAfter('k', 500, timers.now);
    q.addAfter('k', 900, timers.now);
    q.addAfter('k', 200, timers.now);
    timers.advance(199);
    expect(q.depth).toBe(0);
    timers.advance(1);
    expect(q.depth).toBe(1);
    timers.advance(1000);
    expect(q.depth).toBe(1);
  });

  test('shutDown wakes waiting workers with undefined, drops queued keys and timers', async () => {
    const { q, timers } = queue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    const { q: q2, timers: t2 } = queue();
    q2.add('a');
    q2.addAfter('b', 100, 0);
    q2.shutDown();
    expect(await q2.get()).toBeUndefined();
    expect(t2.size).toBe(0);
    q2.add('c');
    expect(q2.depth).toBe(0);
    expect(timers.size).toBe(0);
  });
});
