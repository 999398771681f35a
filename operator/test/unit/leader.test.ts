// The leader elector against a fake Lease API and a manual clock: every Lease call is bounded by
// what is left of the renew deadline, the deadline counts from when a renewal was sent, writes are
// refused the moment it passes (whether or not any timer ran: a paused process), and a process
// that lost the lease never leads again.
import { describe, expect, test } from '@jest/globals';
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector, LeadershipLostError } from '../../src/controller/leader.ts';
import { ManualClock, settle } from '../support/manual-clock.ts';

const LEASE_MS = 15_000;
const DEADLINE_MS = 10_000;
const RETRY_MS = 2_000;

interface CallOptions {
  middleware?: { pre(ctx: unknown): unknown }[];
}

/** What the elector's per-call options put on the request: the abort signal, if any. */
async function signalOf(options: CallOptions | undefined): Promise<AbortSignal | undefined> {
  let signal: AbortSignal | undefined;
  const ctx = { setSignal: (s: AbortSignal) => (signal = s) };
  for (const m of options?.middleware ?? []) await m.pre(ctx);
  return signal;
}

/** One Lease in memory, with resourceVersion checks; calls can be made to hang or to take time. */
class FakeLeases {
  lease: V1Lease | undefined;
  private rv = 0;
  /** Calls never answer (until their signal aborts them). */
  hang = false;
  /** Calls answer after this long on the manual clock. */
  latencyMs = 0;
  readonly aborted: string[] = [];
  readonly writes: { verb: string; at: number; holder?: string }[] = [];

  private readonly clock: ManualClock;

  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  private async call<T>(verb: string, options: CallOptions | undefined, fn: () => T): Promise<T> {
    const signal = await signalOf(options);
    if (this.hang || this.latencyMs > 0) {
      await new Promise<void>((resolve, reject) => {
        if (!this.hang) this.clock.setTimeout(resolve, this.latencyMs);
        signal?.addEventListener('abort', () => {
          this.aborted.push(verb);
          reject(signal.reason);
        });
      });
    }
    return fn();
  }

  readNamespacedLease = (_p: unknown, o?: CallOptions) =>
    this.call('read', o, () => {
      if (!this.lease) throw new ApiException(404, 'not found', '', {});
      return structuredClone(this.lease);
    });

  createNamespacedLease = (p: { body: V1Lease }, o?: CallOptions) =>
    this.call('create', o, () => {
      if (this.lease) throw new ApiException(409, 'exists', '', {});
      return this.store('create', p.body);
    });

  replaceNamespacedLease = (p: { body: V1Lease }, o?: CallOptions) =>
    this.call('replace', o, () => {
      if (p.body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
        throw new ApiException(409, 'conflict', '', {});
      return this.store('replace', p.body);
    });

  private store(verb: string, body: V1Lease): V1Lease {
    this.rv += 1;
    this.lease = structuredClone({
      ...body,
      metadata: { ...body.metadata, resourceVersion: String(this.rv) },
    });
    this.writes.push({ verb, at: this.clock.now(), holder: body.spec?.holderIdentity });
    return structuredClone(this.lease);
  }

  /** Another replica takes the lease (as a standby would after expiry). */
  takenBy(identity: string): void {
    this.store('replace', { ...(this.lease ?? {}), spec: { ...this.lease?.spec, holderIdentity: identity } });
  }
}

function setup(identity = 'a', clock = new ManualClock(), leases = new FakeLeases(clock)) {
  const elector = new LeaderElector({
    api: leases as never,
    namespace: 'ops',
    name: 'servingstack-operator',
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    log: pino({ level: 'silent' }),
    clock,
  });
  const seen = { started: 0, lost: 0 };
  let done = false;
  const running = elector
    .run(
      () => (seen.started += 1),
      () => (seen.lost += 1),
    )
    .then(() => (done = true));
  return { clock, leases, elector, seen, running, done: () => done };
}

describe('LeaderElector', () => {
  test('takes a free lease, renews it every retry period, and lets writes through while it leads', async () => {
    const h = setup();
    await settle();
    expect(h.seen.started).toBe(1);
    expect(h.leases.lease?.spec?.holderIdentity).toBe('a');
    expect(() => h.elector.check()).not.toThrow();
    await h.clock.advance(3 * RETRY_MS);
    expect(h.leases.writes.length).toBeGreaterThanOrEqual(3);
    expect(() => h.elector.check()).not.toThrow();
  });

  test('a standby waits a full lease duration after the last change it saw, then takes over', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases(clock);
    const a = setup('a', clock, leases);
    await settle();
    const b = setup('b', clock, leases);
    await clock.advance(LEASE_MS);
    expect(b.seen.started).toBe(0);
    a.leases.hang = true; // a stops renewing (its calls never answer) ...
    await clock.advance(DEADLINE_MS);
    expect(a.seen.lost).toBe(1);
    leases.hang = false; // ... and b takes over, a full duration after it saw a's last renewal.
    // b's own call may hang until its deadline too, and b may see a's last renewal only after
    // that (its retries are jittered): up to a deadline and a jittered retry before the duration.
    await clock.advance(DEADLINE_MS + 1.2 * RETRY_MS + LEASE_MS + 1.2 * RETRY_MS);
    expect(b.seen.started).toBe(1);
    expect(leases.lease?.spec?.holderIdentity).toBe('b');
    const lastOfA = leases.writes.filter((w) => w.holder === 'a').at(-1)?.at ?? NaN;
    const firstOfB = leases.writes.find((w) => w.holder === 'b')?.at ?? NaN;
    expect(firstOfB - lastOfA).toBeGreaterThanOrEqual(LEASE_MS);
  });

  test('a renewal that never answers is aborted at the renew deadline, and leadership ends then', async () => {
    const h = setup();
    await settle();
    h.leases.hang = true;
    await h.clock.advance(DEADLINE_MS);
    expect(h.leases.aborted.length).toBeGreaterThan(0);
    expect(h.seen.lost).toBe(1);
    expect(() => h.elector.check()).toThrow(LeadershipLostError);
  });

  test('the deadline counts from when the renewal was sent, not from when its answer came', async () => {
    const h = setup();
    await settle();
    h.leases.latencyMs = 3_000;
    const sent = h.clock.now() + RETRY_MS; // the next renewal goes out then: read and update take 3 s each
    await h.clock.advance(RETRY_MS + 6_000);
    expect(h.leases.writes.at(-1)?.at).toBe(sent + 6_000);
    h.leases.hang = true; // no renewal lands after that one
    await h.clock.advance(sent + DEADLINE_MS - 1 - h.clock.now());
    expect(() => h.elector.check()).not.toThrow();
    h.clock.jump(1);
    expect(() => h.elector.check()).toThrow(LeadershipLostError);
  });

  test('writes stop the moment the deadline passes, even if no timer has run yet (a paused process)', async () => {
    const h = setup();
    await settle();
    h.clock.jump(DEADLINE_MS);
    expect(() => h.elector.check()).toThrow(LeadershipLostError);
    // On resuming, the elector does not renew a lease it may no longer hold: it gives up.
    await h.clock.advance(0);
    expect(h.seen.lost).toBe(1);
    expect(h.leases.writes.map((w) => w.verb)).toEqual(['create']);
  });

  test('a lost lease is never led again by the same process: run() returns and onStarted fires once', async () => {
    const h = setup();
    await settle();
    h.leases.hang = true;
    await h.clock.advance(DEADLINE_MS);
    h.leases.hang = false;
    h.leases.lease = undefined; // free for the taking
    await h.clock.advance(5 * LEASE_MS);
    expect(h.done()).toBe(true);
    expect(h.seen.started).toBe(1);
    expect(h.leases.lease).toBeUndefined();
  });

  test('a standby’s lease calls are bounded too, and it keeps trying', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases(clock);
    leases.hang = true;
    const h = setup('b', clock, leases);
    await clock.advance(DEADLINE_MS);
    expect(leases.aborted.length).toBeGreaterThan(0);
    leases.hang = false;
    await clock.advance(2 * RETRY_MS + DEADLINE_MS);
    expect(h.seen.started).toBe(1);
  });

  test('release hands the lease back while leading, and never after losing it', async () => {
    const h = setup();
    await settle();
    await h.elector.release();
    expect(h.leases.lease?.spec?.holderIdentity).toBeUndefined();
    expect(() => h.elector.check()).toThrow(LeadershipLostError);

    const g = setup('c');
    await settle();
    g.leases.hang = true;
    await g.clock.advance(DEADLINE_MS);
    g.leases.hang = false;
    g.leases.takenBy('d');
    const writes = g.leases.writes.length;
    await g.elector.release();
    expect(g.leases.writes.length).toBe(writes);
    expect(g.leases.lease?.spec?.holderIdentity).toBe('d');
  });
});

describe('two electors on one Lease', () => {
  /** `leases` as one replica sees it: reads that start in [from, to) answer `readDelayMs` later. */
  function view(
    clock: ManualClock,
    leases: FakeLeases,
    o: { slowReadFrom?: number; slowReadTo?: number; readDelayMs?: number; hangFrom?: number },
  ) {
    const hang = (opts?: CallOptions) =>
      signalOf(opts).then(
        (signal) =>
          new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
      );
    const hanging = () => o.hangFrom !== undefined && clock.now() >= o.hangFrom;
    return {
      readNamespacedLease: async (p: unknown, opts?: CallOptions) => {
        if (hanging()) return hang(opts);
        const t = clock.now();
        if (o.readDelayMs && t >= (o.slowReadFrom ?? 0) && t < (o.slowReadTo ?? Infinity)) {
          // The server answers at the end of the delay, with the Lease as it is then.
          await new Promise<void>((r) => clock.setTimeout(r, o.readDelayMs ?? 0));
        }
        return leases.readNamespacedLease(p, opts);
      },
      createNamespacedLease: (p: { body: V1Lease }, opts?: CallOptions) =>
        hanging() ? hang(opts) : leases.createNamespacedLease(p, opts),
      replaceNamespacedLease: (p: { body: V1Lease }, opts?: CallOptions) =>
        hanging() ? hang(opts) : leases.replaceNamespacedLease(p, opts),
    };
  }

  function elector(identity: string, clock: ManualClock, api: unknown) {
    const e = new LeaderElector({
      api: api as never,
      namespace: 'ops',
      name: 'servingstack-operator',
      identity,
      leaseDurationMs: LEASE_MS,
      renewDeadlineMs: DEADLINE_MS,
      retryPeriodMs: RETRY_MS,
      log: pino({ level: 'silent' }),
      clock,
    });
    void e.run(
      () => {},
      () => {},
    );
    return e;
  }

  test('a slow read does not make a standby count the lease duration from before the renewal it saw', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases(clock);
    const t0 = clock.now();
    // a leads from t0 and renews every 2 s; its renewal at t0+8 s is its last (it hangs from t0+9 s),
    // so it may write until t0+18 s.
    const a = elector('a', clock, view(clock, leases, { hangFrom: t0 + 9_000 }));
    await settle();
    await clock.advance(1_000);
    // b's first read goes out at t0+1 s and is answered 9 s later, showing a's renewal from t0+8 s.
    const b = elector(
      'b',
      clock,
      view(clock, leases, { slowReadFrom: t0 + 1_000, slowReadTo: t0 + 1_001, readDelayMs: 9_000 }),
    );
    const both: number[] = [];
    for (let t = 0; t < 3 * LEASE_MS; t += 100) {
      await clock.advance(100);
      if (a.mayWrite() && b.mayWrite()) both.push(clock.now() - t0);
    }
    expect(leases.lease?.spec?.holderIdentity).toBe('b');
    expect(both).toEqual([]);
  });
});

describe('a leader that finds the Lease held by another', () => {
  test('stops writing at once instead of at its renew deadline', async () => {
    const h = setup();
    await settle();
    expect(() => h.elector.check()).not.toThrow();
    // Someone else holds the Lease now (an edit by hand, or a standby whose clock ran fast).
    h.leases.takenBy('intruder');
    await h.clock.advance(RETRY_MS);
    expect(() => h.elector.check()).toThrow(LeadershipLostError);
    expect(h.seen.lost).toBe(1);
    expect(h.leases.lease?.spec?.holderIdentity).toBe('intruder');
  });
});
