// Leader election on a coordination.k8s.io Lease, a port of client-go's tools/leaderelection
// (client-node has none). Expiry is judged by the local clock from when this replica last saw the
// Lease change, never by comparing its renewTime with our clock, so clock skew cannot split the brain.
import { ApiException, V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  now?: () => number;
}

const is = (e: unknown, code: number) => e instanceof ApiException && e.code === code;

export class LeaderElector {
  private readonly o: LeaderOptions;
  private readonly now: () => number;
  private observedRV = '';
  private observedAt = 0;
  private lastRenew = 0;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private inflight: Promise<boolean> | undefined;

  constructor(o: LeaderOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
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
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const t = new V1MicroTime(now);
    const durationS = Math.round(this.o.leaseDurationMs / 1000);
    let current: V1Lease;
    try {
      current = await this.o.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (e) {
      if (!is(e, 404)) throw e;
      try {
        const created = await this.o.api.createNamespacedLease({
          namespace: this.o.namespace,
          body: this.lease({
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationS,
            acquireTime: t,
            renewTime: t,
            leaseTransitions: 0,
          }),
        });
        this.observe(created, now);
        return true;
      } catch (e2) {
        if (is(e2, 409)) return false;
        throw e2;
      }
    }
    const rv = current.metadata?.resourceVersion ?? '';
    if (rv !== this.observedRV) {
      this.observedRV = rv;
      this.observedAt = now;
    }
    const s = current.spec ?? {};
    const mine = s.holderIdentity === this.o.identity;
    const expired = this.observedAt + (s.leaseDurationSeconds ?? durationS) * 1000 <= now;
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
      const updated = await this.o.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: next,
      });
      this.observe(updated, now);
      return true;
    } catch (e) {
      if (is(e, 409)) return false;
      throw e;
    }
  }

  private observe(lease: V1Lease, now: number): void {
    this.observedRV = lease.metadata?.resourceVersion ?? '';
    this.observedAt = now;
  }

  /**
   * Campaigns until stopped or until leadership is lost. Calls onStarted once leadership is won;
   * calls onLost and returns when the leader could not renew within the renew deadline, so the
   * caller stops all work before anyone else can take over.
   */
  async run(onStarted: () => void, onLost: () => void): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        this.inflight = this.tryAcquireOrRenew();
        ok = await this.inflight;
      } catch (err) {
        this.o.log.warn({ err: String(err) }, 'leader election: lease request failed');
      } finally {
        this.inflight = undefined;
      }
      // Released while the attempt was in flight: never start work after a stop.
      if (this.stopped) return;
      const now = this.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.o.log.info(
            { identity: this.o.identity, lease: `${this.o.namespace}/${this.o.name}` },
            'became leader',
          );
          onStarted();
        }
      } else if (this.leading && now - this.lastRenew >= this.o.renewDeadlineMs) {
        this.leading = false;
        this.o.log.error({ identity: this.o.identity }, 'leader election: lost the lease');
        onLost();
        return;
      }
      // Standbys retry with jitter (client-go's JitterFactor 1.2) so they do not move in step.
      const wait = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + Math.random() * 0.2);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, wait);
      });
    }
  }

  /** Stops campaigning; if leading, hands the Lease back so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    // An attempt in flight may have just renewed (or won) the Lease: let it land, then hand back
    // whatever we hold, judged by the Lease itself rather than by our flag.
    await this.inflight?.catch(() => false);
    this.leading = false;
    try {
      const current = await this.o.api.readNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
      });
      if (current.spec?.holderIdentity !== this.o.identity) return;
      const t = new V1MicroTime(this.now());
      await this.o.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: this.lease(
          {
            ...current.spec,
            holderIdentity: undefined,
            leaseDurationSeconds: 1,
            renewTime: t,
            acquireTime: t,
          },
          current,
        ),
      });
      this.o.log.info('released the leader lease');
    } catch (err) {
      this.o.log.warn(
        { err: String(err) },
        'could not release the leader lease; a standby takes over when it expires',
      );
    }
  }
}
