// Leader election on a coordination.k8s.io Lease, a port of client-go's tools/leaderelection
// (client-node has none), fenced so that two processes never write at once:
// - expiry is judged by the local clock from when this replica last saw the Lease change, never by
//   comparing its renewTime with our clock, so clock skew cannot split the brain;
// - the renew deadline counts from when a renewal was sent (a standby's lease duration starts
//   after that), and every Lease call is aborted when what is left of the deadline runs out;
// - a watchdog ends leadership at the deadline even while a call is out, and check() (the write
//   gate every write passes) compares the clock with the deadline itself, so a process that was
//   paused past its deadline refuses to write before any timer has had a chance to run.
// A process that lost the lease does not campaign again (controller-runtime exits; so does main).
import {
  ApiException,
  Observable,
  V1MicroTime,
  type CoordinationV1Api,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { WriteGate } from './api-clients.ts';

export interface ElectionClock {
  /** Milliseconds on a clock that only moves forward (deadlines). */
  now(): number;
  /** Milliseconds since the epoch (the Lease's timestamps). */
  wall(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: ElectionClock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export interface LeaderOptions {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  clock?: ElectionClock;
}

export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

const is = (e: unknown, code: number) => e instanceof ApiException && e.code === code;

/** Per-call options that put `signal` on the request, so the transport aborts it. */
function withSignal(signal: AbortSignal) {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (rsp: ResponseContext) => new Observable(Promise.resolve(rsp)),
      },
    ],
    middlewareMergeStrategy: 'append' as const,
  };
}

export class LeaderElector implements WriteGate {
  private readonly o: LeaderOptions;
  private readonly clock: ElectionClock;
  private observedRV = '';
  private observedAt = 0;
  /** When the last successful renewal was sent (clock.now()). */
  private lastRenew = Number.NEGATIVE_INFINITY;
  private leading = false;
  private lost = false;
  private stopped = false;
  private onLost: (() => void) | undefined;
  private watchdog: unknown;
  private sleeper: { handle: unknown; wake: () => void } | undefined;
  private inflight: { controller: AbortController; done: Promise<unknown> } | undefined;

  constructor(o: LeaderOptions) {
    this.o = o;
    this.clock = o.clock ?? realClock;
  }

  get isLeader(): boolean {
    return this.mayWrite();
  }

  /** Leading, and the renew deadline has not passed (by the clock, whatever the timers did). */
  mayWrite(): boolean {
    return this.leading && !this.lost && this.clock.now() - this.lastRenew < this.o.renewDeadlineMs;
  }

  check(): void {
    if (!this.mayWrite()) {
      this.loseIfPastDeadline();
      throw new LeadershipLostError(`${this.o.identity} does not hold the leader lease: writing stopped`);
    }
  }

  private lease(spec: V1Lease['spec'], base?: V1Lease): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: base?.metadata ?? { name: this.o.name, namespace: this.o.namespace },
      spec,
    };
  }

  /** One attempt, as client-go's tryAcquireOrRenew: true when we hold the Lease afterwards. */
  private async tryAcquireOrRenew(signal: AbortSignal, started: number): Promise<boolean> {
    const opts = withSignal(signal);
    const ref = { name: this.o.name, namespace: this.o.namespace };
    const t = new V1MicroTime(this.clock.wall());
    const durationS = Math.round(this.o.leaseDurationMs / 1000);
    let current: V1Lease;
    try {
      current = await this.o.api.readNamespacedLease(ref, opts);
    } catch (e) {
      if (!is(e, 404)) throw e;
      const spec = {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationS,
        acquireTime: t,
        renewTime: t,
        leaseTransitions: 0,
      };
      try {
        this.observe(
          await this.o.api.createNamespacedLease(
            { namespace: this.o.namespace, body: this.lease(spec) },
            opts,
          ),
          started,
        );
        return true;
      } catch (e2) {
        if (is(e2, 409)) return false;
        throw e2;
      }
    }
    // A change is dated when its answer came, as client-go does, never when the read was sent: the
    // holder may have renewed (sent) anywhere up to the moment the answer left the server, and its
    // renew deadline counts from then. Dating it earlier lets a slow read end the lease early.
    const seen = this.clock.now();
    const rv = current.metadata?.resourceVersion ?? '';
    if (rv !== this.observedRV) {
      this.observedRV = rv;
      this.observedAt = seen;
    }
    const s = current.spec ?? {};
    const mine = s.holderIdentity === this.o.identity;
    if (this.leading && !mine) {
      // Someone else holds it while we thought we led: whatever our deadline says, stop writing now.
      this.lose(`the Lease is held by ${s.holderIdentity || 'nobody'}`);
      return false;
    }
    const expired = this.observedAt + (s.leaseDurationSeconds ?? durationS) * 1000 <= seen;
    if (s.holderIdentity && !mine && !expired) return false;
    const next = this.lease(
      {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationS,
        renewTime: t,
        acquireTime: mine && s.acquireTime ? s.acquireTime : t,
        leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
      current,
    );
    try {
      this.observe(await this.o.api.replaceNamespacedLease({ ...ref, body: next }, opts), started);
      return true;
    } catch (e) {
      if (is(e, 409)) return false;
      throw e;
    }
  }

  private observe(lease: V1Lease, at: number): void {
    this.observedRV = lease.metadata?.resourceVersion ?? '';
    this.observedAt = at;
  }

  /** Runs one Lease call, aborted after `budgetMs` (or when leadership is lost meanwhile). */
  private async attempt(budgetMs: number): Promise<{ ok: boolean; started: number }> {
    const started = this.clock.now();
    const controller = new AbortController();
    const timer = this.clock.setTimeout(
      () => controller.abort(new Error(`lease call took longer than ${Math.round(budgetMs)} ms`)),
      Math.max(0, budgetMs),
    );
    const done = this.tryAcquireOrRenew(controller.signal, started);
    this.inflight = { controller, done: done.catch(() => false) };
    try {
      return { ok: await done, started };
    } catch (err) {
      this.o.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'leader election: lease request failed',
      );
      return { ok: false, started };
    } finally {
      this.clock.clearTimeout(timer);
      this.inflight = undefined;
    }
  }

  private armWatchdog(): void {
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    const left = this.lastRenew + this.o.renewDeadlineMs - this.clock.now();
    this.watchdog = this.clock.setTimeout(() => this.loseIfPastDeadline(), Math.max(0, left));
  }

  private loseIfPastDeadline(): void {
    if (!this.leading || this.lost || this.clock.now() - this.lastRenew < this.o.renewDeadlineMs) return;
    this.lose('not renewed within the renew deadline');
  }

  private lose(why: string): void {
    if (!this.leading || this.lost) return;
    this.lost = true;
    this.leading = false;
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    this.inflight?.controller.abort(new LeadershipLostError(why));
    this.o.log.error({ identity: this.o.identity }, `leader election: lost the lease (${why})`);
    this.onLost?.();
    this.sleeper?.wake();
  }

  /**
   * Campaigns until stopped or until leadership is lost. Calls onStarted once leadership is won;
   * calls onLost (at most once) and returns when it could not renew within the renew deadline. It
   * never leads again after that: the caller ends the process.
   */
  async run(onStarted: () => void, onLost: () => void): Promise<void> {
    this.onLost = onLost;
    while (!this.stopped && !this.lost) {
      this.loseIfPastDeadline();
      if (this.lost) return;
      // A leader has what is left of its deadline; a candidate a whole one.
      const budget = this.leading
        ? this.lastRenew + this.o.renewDeadlineMs - this.clock.now()
        : this.o.renewDeadlineMs;
      const { ok, started } = await this.attempt(budget);
      // Released or lost while the attempt was out: never start work then.
      if (this.stopped || this.lost) return;
      if (ok) {
        this.lastRenew = started;
        if (!this.leading) {
          this.leading = true;
          this.o.log.info(
            { identity: this.o.identity, lease: `${this.o.namespace}/${this.o.name}` },
            'became leader',
          );
          onStarted();
        }
        this.armWatchdog();
      }
      this.loseIfPastDeadline();
      if (this.lost) return;
      // Standbys retry with jitter (client-go's JitterFactor 1.2) so they do not move in step.
      const wait = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + Math.random() * 0.2);
      await new Promise<void>((resolve) => {
        const handle = this.clock.setTimeout(resolve, wait);
        this.sleeper = { handle, wake: resolve };
      });
      this.sleeper = undefined;
    }
  }

  /** Stops campaigning; if still leading within the deadline, hands the Lease back so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.sleeper) {
      this.clock.clearTimeout(this.sleeper.handle);
      this.sleeper.wake();
    }
    // An attempt in flight may have just renewed (or won) the Lease: let it land first.
    await this.inflight?.done;
    const leading = this.mayWrite();
    const left = this.lastRenew + this.o.renewDeadlineMs - this.clock.now();
    this.leading = false;
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    if (!leading) return;
    const controller = new AbortController();
    const timer = this.clock.setTimeout(() => controller.abort(new Error('lease release timed out')), left);
    const opts = withSignal(controller.signal);
    try {
      const ref = { name: this.o.name, namespace: this.o.namespace };
      const current = await this.o.api.readNamespacedLease(ref, opts);
      if (current.spec?.holderIdentity !== this.o.identity) return;
      const t = new V1MicroTime(this.clock.wall());
      const spec = {
        ...current.spec,
        holderIdentity: undefined,
        leaseDurationSeconds: 1,
        renewTime: t,
        acquireTime: t,
      };
      await this.o.api.replaceNamespacedLease({ ...ref, body: this.lease(spec, current) }, opts);
      this.o.log.info('released the leader lease');
    } catch (err) {
      this.o.log.warn(
        { err: String(err) },
        'could not release the leader lease; a standby takes over when it expires',
      );
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}
