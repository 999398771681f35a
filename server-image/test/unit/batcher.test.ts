import { describe, expect, it } from '@jest/globals';
import { Batcher } from '../../src/batcher.ts';
import type { BatcherOptions } from '../../src/batcher.ts';
import type { RequestError } from '../../src/errors.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';

/** A runner the test completes by hand, recording each batch it was given. */
function manualRunner() {
  const batches: string[][] = [];
  const finishers: Array<(fail?: Error) => void> = [];
  const run = (inputs: string[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push(inputs);
      finishers.push((fail) => (fail ? reject(fail) : resolve(inputs.map((i) => `out:${i}`))));
    });
  return { batches, finishers, run };
}

function make(opts: Partial<BatcherOptions<string, string>> & Pick<BatcherOptions<string, string>, 'run'>) {
  const clock = new FakeClock();
  const sizes: number[] = [];
  const batcher = new Batcher<string, string>({
    maxBatchSize: 4,
    maxDelayMs: 10,
    maxQueueSize: 8,
    clock,
    onBatch: (rows) => sizes.push(rows),
    ...opts,
  });
  return { batcher, clock, sizes };
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );

describe('Batcher', () => {
  it('closes a batch at maxBatchSize rows without waiting for the delay', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run });
    const results = ['a', 'b', 'c', 'd'].map((x) => batcher.submit(x, { rows: 1 }));
    expect(r.batches).toEqual([['a', 'b', 'c', 'd']]);
    expect(clock.pending).toBe(0);
    r.finishers[0]!();
    await expect(Promise.all(results)).resolves.toEqual(
      ['a', 'b', 'c', 'd'].map((x) => ({ output: `out:${x}`, queuedMs: 0 })),
    );
  });

  it('closes a partial batch when the oldest request has waited maxDelayMs', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run });
    const a = batcher.submit('a', { rows: 1 });
    clock.advance(4);
    const b = batcher.submit('b', { rows: 1 });
    clock.advance(5);
    expect(r.batches).toEqual([]);
    clock.advance(1);
    expect(r.batches).toEqual([['a', 'b']]);
    r.finishers[0]!();
    expect(await a).toEqual({ output: 'out:a', queuedMs: 10 });
    expect(await b).toEqual({ output: 'out:b', queuedMs: 6 });
  });

  it('counts rows: multi-row requests fill a batch and are answered separately, in order', async () => {
    const r = manualRunner();
    const { batcher, sizes } = make({ run: r.run });
    const results = [
      batcher.submit('a', { rows: 2 }),
      batcher.submit('b', { rows: 1 }),
      batcher.submit('c', { rows: 1 }),
    ];
    expect(r.batches).toEqual([['a', 'b', 'c']]);
    expect(sizes).toEqual([4]);
    r.finishers[0]!();
    expect((await Promise.all(results)).map((x) => x.output)).toEqual(['out:a', 'out:b', 'out:c']);
  });

  it('closes a batch early when the next request cannot fit, and keeps arrival order', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run });
    void batcher.submit('a', { rows: 3 });
    void batcher.submit('b', { rows: 2 }); // 3 + 2 > 4: a runs alone, now
    void batcher.submit('c', { rows: 1 }); // would fit beside a, but must not overtake b
    expect(r.batches).toEqual([['a']]);
    r.finishers[0]!();
    await flush();
    expect(r.batches).toEqual([['a']]); // b + c = 3 rows: waits for the delay
    clock.advance(10);
    expect(r.batches).toEqual([['a'], ['b', 'c']]);
  });

  it('only batches requests with the same key together', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run });
    void batcher.submit('x1', { rows: 1, key: 'x' });
    void batcher.submit('y1', { rows: 1, key: 'y' });
    void batcher.submit('x2', { rows: 1, key: 'x' });
    clock.advance(10);
    expect(r.batches).toEqual([['x1', 'x2']]);
    r.finishers[0]!();
    await flush();
    expect(r.batches).toEqual([['x1', 'x2'], ['y1']]);
  });

  it('takes the fast path for the latency profile: no timers, no queue', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run, maxBatchSize: 1, maxDelayMs: 0 });
    const a = batcher.submit('a', { rows: 1 });
    expect(r.batches).toEqual([['a']]);
    expect(clock.pending).toBe(0);
    expect(batcher.depth).toBe(0);
    const b = batcher.submit('b', { rows: 1 }); // arrives while a runs: queued behind it
    expect(batcher.depth).toBe(1);
    r.finishers[0]!();
    await flush();
    expect(r.batches).toEqual([['a'], ['b']]);
    r.finishers[1]!();
    expect((await a).output).toBe('out:a');
    expect((await b).output).toBe('out:b');
  });

  it('rejects at once with 503 and Retry-After when the queue is full', async () => {
    const r = manualRunner();
    const { batcher } = make({ run: r.run, maxQueueSize: 2, maxBatchSize: 1, maxDelayMs: 0 });
    void batcher.submit('running', { rows: 1 });
    void batcher.submit('q1', { rows: 1 });
    void batcher.submit('q2', { rows: 1 });
    const err = (await settle(batcher.submit('overflow', { rows: 1 }))) as { ok: false; e: RequestError };
    expect(err.ok).toBe(false);
    expect(err.e.statusCode).toBe(503);
    expect(err.e.headers['retry-after']).toBe('1');
    expect(err.e.message).toMatch(/queue is full/);
  });

  it('rejects requests larger than the max batch size with 400', async () => {
    const { batcher } = make({ run: manualRunner().run });
    const res = (await settle(batcher.submit('big', { rows: 5 }))) as { ok: false; e: RequestError };
    expect(res.e.statusCode).toBe(400);
    expect(res.e.message).toMatch(/5 rows.*max batch size is 4/);
  });

  it('answers a request whose deadline passes while queued at once, and never runs it', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run, maxBatchSize: 1, maxDelayMs: 0 });
    void batcher.submit('running', { rows: 1 });
    const late = settle(batcher.submit('late', { rows: 1, deadline: 5 }));
    clock.advance(5);
    const res = (await late) as { ok: false; e: RequestError };
    expect(res.e.statusCode).toBe(429);
    expect(res.e.message).toMatch(/deadline/);
    expect(batcher.depth).toBe(0);
    r.finishers[0]!();
    await flush();
    expect(r.batches).toEqual([['running']]);
  });

  it('refuses a deadline shorter than a typical batch run', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run, maxBatchSize: 1, maxDelayMs: 0 });
    const first = batcher.submit('first', { rows: 1 });
    clock.advance(20); // the run takes 20 ms
    r.finishers[0]!();
    await first;
    const res = (await settle(batcher.submit('hurried', { rows: 1, deadline: clock.now() + 5 }))) as {
      ok: false;
      e: RequestError;
    };
    expect(res.e.statusCode).toBe(429);
    expect(res.e.message).toMatch(/5\.0 ms left, a batch takes about 20\.0 ms/);
    expect(r.batches).toHaveLength(1);
  });

  it('rejects a deadline that has already passed', async () => {
    const { batcher, clock } = make({ run: manualRunner().run });
    clock.advance(100);
    const res = (await settle(batcher.submit('x', { rows: 1, deadline: 50 }))) as {
      ok: false;
      e: RequestError;
    };
    expect(res.e.statusCode).toBe(429);
  });

  it('fails every request of a batch whose run fails, and keeps serving', async () => {
    const r = manualRunner();
    const { batcher, clock } = make({ run: r.run });
    const a = settle(batcher.submit('a', { rows: 1 }));
    const b = settle(batcher.submit('b', { rows: 1 }));
    clock.advance(10);
    r.finishers[0]!(new Error('runtime exploded'));
    expect(await a).toEqual({ ok: false, e: new Error('runtime exploded') });
    expect(await b).toEqual({ ok: false, e: new Error('runtime exploded') });
    const c = batcher.submit('c', { rows: 1 });
    clock.advance(10);
    r.finishers[1]!();
    expect((await c).output).toBe('out:c');
  });

  it('fails the batch when the run returns the wrong number of outputs', async () => {
    const { batcher } = make({ maxBatchSize: 1, maxDelayMs: 0, run: async () => ['one', 'two'] });
    await expect(batcher.submit('a', { rows: 1 })).rejects.toThrow(
      'batch run returned 2 outputs for 1 inputs',
    );
  });

  it('drains on close: queued work runs without waiting for the delay, new work is refused', async () => {
    const r = manualRunner();
    const { batcher } = make({ run: r.run });
    const a = batcher.submit('a', { rows: 1 });
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    expect(r.batches).toEqual([['a']]);
    const refused = (await settle(batcher.submit('b', { rows: 1 }))) as { ok: false; e: RequestError };
    expect(refused.e.statusCode).toBe(503);
    await flush();
    expect(closed).toBe(false);
    r.finishers[0]!();
    await closing;
    expect((await a).output).toBe('out:a');
  });

  it('reports queue depth as requests come and go', async () => {
    const r = manualRunner();
    const depths: number[] = [];
    const { batcher, clock } = make({ run: r.run, onQueueDepth: (d) => depths.push(d) });
    void batcher.submit('a', { rows: 1 });
    void batcher.submit('b', { rows: 1 });
    clock.advance(10);
    expect(depths).toEqual([1, 2, 0]);
  });

  describe('with two batches in flight (a model on a worker thread)', () => {
    it('hands over the next full batch while one runs, and no more than two', async () => {
      const r = manualRunner();
      const { batcher } = make({ run: r.run, maxBatchesInFlight: 2 });
      const all = 'abcdefghijkl'.split('').map((x) => batcher.submit(x, { rows: 1 }));
      expect(r.batches).toEqual([
        ['a', 'b', 'c', 'd'],
        ['e', 'f', 'g', 'h'],
      ]);
      r.finishers[0]!();
      await flush();
      expect(r.batches.at(-1)).toEqual(['i', 'j', 'k', 'l']);
      r.finishers[1]!();
      r.finishers[2]!();
      await expect(Promise.all(all)).resolves.toHaveLength(12);
    });

    it('keeps a partial batch filling until the running one finishes, even once due', async () => {
      const r = manualRunner();
      const { batcher, clock, sizes } = make({ run: r.run, maxBatchesInFlight: 2 });
      ['a', 'b', 'c', 'd', 'e'].forEach((x) => void batcher.submit(x, { rows: 1 }));
      clock.advance(50);
      void batcher.submit('f', { rows: 1 });
      expect(r.batches).toEqual([['a', 'b', 'c', 'd']]);
      r.finishers[0]!();
      await flush();
      expect(r.batches).toEqual([
        ['a', 'b', 'c', 'd'],
        ['e', 'f'],
      ]);
      expect(sizes).toEqual([4, 2]);
    });

    it('answers each batch as it finishes, in whatever order the runs end', async () => {
      const r = manualRunner();
      const { batcher } = make({ run: r.run, maxBatchesInFlight: 2 });
      const first = settle(batcher.submit('a', { rows: 4 }));
      const second = settle(batcher.submit('b', { rows: 4 }));
      r.finishers[1]!(new Error('second run failed'));
      await expect(second).resolves.toMatchObject({ ok: false });
      r.finishers[0]!();
      await expect(first).resolves.toMatchObject({ ok: true, v: { output: 'out:a' } });
      expect(batcher.idle).toBe(true);
    });
  });

  it('validates its options', () => {
    expect(
      () => new Batcher({ maxBatchSize: 0, maxDelayMs: 0, maxQueueSize: 1, run: async () => [] }),
    ).toThrow('maxBatchSize');
    expect(
      () => new Batcher({ maxBatchSize: 1, maxDelayMs: -1, maxQueueSize: 1, run: async () => [] }),
    ).toThrow('maxDelayMs');
    expect(
      () =>
        new Batcher({
          maxBatchSize: 1,
          maxDelayMs: 0,
          maxQueueSize: 1,
          maxBatchesInFlight: 0,
          run: async () => [],
        }),
    ).toThrow('maxBatchesInFlight');
  });
});
