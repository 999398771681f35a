// One reconcile pass for one stack: read it from the cache, build the whole desired state, apply
// what differs, prune what is no longer wanted, and write the status if it changed. Level-based:
// it never looks at which event caused it.
import type { KubernetesObject, ObjectCache, V1Deployment } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  POOLS,
  withDefaults,
  type DefaultedStack,
  type Pool,
  type ServingStack,
  type ServingStackStatus,
} from '../api/servingstack.ts';
import type { BuildContext } from '../builders/context.ts';
import { buildDesired } from '../builders/desired.ts';
import { InvalidSpecError } from '../builders/model-source.ts';
import { childNames, LABEL_INSTANCE, labelValue } from '../builders/names.ts';
import { controllerStackUid } from '../builders/owner.ts';
import { computeStatus, type Blocker, type Observed } from '../status/compute.ts';
import type { Clock } from '../status/conditions.ts';
import { apiMessage, classify } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { CHILD_KINDS, kindKey } from './kinds.ts';
import type { KubeClient } from './kube-client.ts';
import { isSubset } from './subset.ts';

export interface Caches {
  stacks: ObjectCache<ServingStack>;
  /** Owned objects by kindKey(apiVersion, kind). */
  children: ReadonlyMap<string, ObjectCache<KubernetesObject>>;
}

export interface ReconcileResult {
  /** Look again after this long even without events (e.g. a blocker someone else may clear). */
  requeueAfterMs?: number;
}

const BLOCKED_RECHECK_MS = 60_000;

function describe(o: KubernetesObject): string {
  return `${o.kind} ${o.metadata?.name}`;
}

function isRouting(o: KubernetesObject): boolean {
  return o.kind === 'Ingress' || o.kind === 'HTTPRoute';
}

export class Reconciler {
  private readonly caches: Caches;
  private readonly kube: KubeClient;
  private readonly events: EventRecorder;
  private readonly ctx: BuildContext;
  private readonly now: Clock;
  private readonly log: Logger;

  constructor(
    caches: Caches,
    kube: KubeClient,
    events: EventRecorder,
    ctx: BuildContext,
    now: Clock,
    log: Logger,
  ) {
    this.caches = caches;
    this.kube = kube;
    this.events = events;
    this.ctx = ctx;
    this.now = now;
    this.log = log;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const raw = this.caches.stacks.get(name, namespace);
    if (!raw) return {}; // deleted: owner references let the garbage collector take the children
    if (raw.metadata.deletionTimestamp) return {};
    const stack = withDefaults(raw);
    const log = this.log.child({ stack: `${namespace}/${name}`, generation: stack.generation });

    let blocker: Blocker | undefined;
    let routingBlocker: Blocker | undefined;
    let routingApplied = false;
    const deployments: Partial<Record<Pool, V1Deployment>> = {};
    let provider: string = stack.spec.routing.provider;
    let unexpressedRules: string[] = [];
    const wanted = new Set<string>();
    // One Event per pass for everything it changed, not one per child: fewer writes, same story.
    const changes: string[] = [];

    try {
      const desired = buildDesired(stack, this.ctx);
      provider = desired.provider;
      unexpressedRules = desired.unexpressedRules;
      for (const child of desired.children) {
        wanted.add(`${kindKey(child.apiVersion, child.kind)}/${child.metadata?.name}`);
      }
      let routingOk = true;
      for (const child of desired.children) {
        const outcome = await this.ensure(stack, child, log, changes);
        if (outcome.kind === 'blocked') {
          if (isRouting(child)) {
            routingOk = false;
            routingBlocker ??= outcome.blocker;
          } else {
            blocker ??= outcome.blocker;
          }
          continue;
        }
        if (child.kind === 'Deployment') {
          const pool = POOLS.find((p) => childNames.pool(stack, p) === child.metadata?.name);
          if (pool) deployments[pool] = outcome.live as V1Deployment;
        }
      }
      routingApplied = routingOk;
      if (unexpressedRules.length > 0) {
        await this.events.record(stack, {
          type: 'Warning',
          reason: 'RoutingRulesNotExpressible',
          action: 'Apply',
          note: `${provider} cannot express: ${unexpressedRules.join('; ')}`,
        });
      }
      await this.prune(stack, wanted, log, changes);
      if (changes.length > 0) {
        await this.events.record(stack, {
          type: 'Normal',
          reason: 'Applied',
          action: 'Apply',
          note: changes.join(', '),
        });
      }
    } catch (err) {
      if (!(err instanceof InvalidSpecError)) throw err;
      blocker = { reason: 'InvalidSpec', message: err.message };
      await this.events.record(stack, {
        type: 'Warning',
        reason: 'InvalidSpec',
        action: 'Build',
        note: err.message,
      });
    }

    if (routingBlocker && !blocker)
      blocker = { reason: routingBlocker.reason, message: routingBlocker.message };
    const observed: Observed = {
      deployments,
      routingApplied,
      unexpressedRules,
      provider,
      blocker,
      routingBlocker,
    };
    await this.writeStatus(raw, stack, observed, log);
    return blocker ? { requeueAfterMs: BLOCKED_RECHECK_MS } : {};
  }

  /** Makes one child match; returns what is live, or why it cannot. */
  private async ensure(
    stack: DefaultedStack,
    desired: KubernetesObject,
    log: Logger,
    changes: string[],
  ): Promise<{ kind: 'ok'; live: KubernetesObject | undefined } | { kind: 'blocked'; blocker: Blocker }> {
    const cache = this.caches.children.get(kindKey(desired.apiVersion, desired.kind));
    const name = desired.metadata?.name ?? '';
    let live: KubernetesObject | undefined = cache?.get(name, stack.namespace);
    if (!live) {
      // Not in our (label-filtered) cache: an object of someone else may hold the name.
      try {
        live = await this.kube.read(desired);
      } catch (err) {
        const c = classify(err);
        if (c === 'missingKind') return { kind: 'blocked', blocker: this.missingKind(desired) };
        if (c !== 'notFound') throw err;
      }
    }
    if (live && controllerStackUid(live.metadata) !== stack.uid) {
      const blocker = {
        reason: 'ChildConflict',
        message: `${describe(desired)} already exists and is not controlled by this ServingStack; rename or delete it`,
      };
      await this.events.record(stack, {
        type: 'Warning',
        reason: blocker.reason,
        action: 'Apply',
        note: blocker.message,
      });
      return { kind: 'blocked', blocker };
    }
    // List responses leave apiVersion and kind out of their items: compare the rest.
    if (live && isSubset({ ...desired, apiVersion: undefined, kind: undefined }, live))
      return { kind: 'ok', live };
    try {
      const applied = await this.kube.apply(desired);
      log.info({ child: describe(desired) }, live ? 'updated child' : 'created child');
      changes.push(`${live ? 'updated' : 'created'} ${describe(desired)}`);
      return { kind: 'ok', live: applied };
    } catch (err) {
      const c = classify(err);
      if (c === 'missingKind') return { kind: 'blocked', blocker: this.missingKind(desired) };
      if (c !== 'rejected') throw err;
      const blocker = { reason: 'ApplyRejected', message: `${describe(desired)}: ${apiMessage(err)}` };
      log.warn({ child: describe(desired), err: blocker.message }, 'apply rejected');
      await this.events.record(stack, {
        type: 'Warning',
        reason: blocker.reason,
        action: 'Apply',
        note: blocker.message,
      });
      return { kind: 'blocked', blocker };
    }
  }

  private missingKind(desired: KubernetesObject): Blocker {
    return {
      reason: 'ProviderNotInstalled',
      message: `the cluster does not serve ${desired.apiVersion} ${desired.kind}; install its CRDs or choose another spec.routing.provider`,
    };
  }

  /** Deletes children this stack controls that the desired state no longer has. */
  private async prune(
    stack: DefaultedStack,
    wanted: Set<string>,
    log: Logger,
    changes: string[],
  ): Promise<void> {
    const instance = labelValue(stack.name);
    for (const k of CHILD_KINDS) {
      const cache = this.caches.children.get(kindKey(k.apiVersion, k.kind));
      for (const obj of cache?.list(stack.namespace) ?? []) {
        if (obj.metadata?.labels?.[LABEL_INSTANCE] !== instance) continue;
        if (controllerStackUid(obj.metadata) !== stack.uid) continue;
        if (wanted.has(`${kindKey(k.apiVersion, k.kind)}/${obj.metadata?.name}`)) continue;
        if (obj.metadata?.deletionTimestamp) continue;
        const target = { ...obj, apiVersion: k.apiVersion, kind: k.kind };
        try {
          await this.kube.delete(target, obj.metadata?.uid ?? '');
        } catch (err) {
          if (classify(err) === 'notFound') continue;
          // 409 here is a failed uid precondition: the object was replaced; the next pass decides.
          if ((err as { code?: number }).code === 409) continue;
          throw err;
        }
        log.info({ child: describe(target) }, 'pruned child');
        changes.push(`pruned ${describe(target)}`);
      }
    }
  }

  private async writeStatus(
    raw: ServingStack,
    stack: DefaultedStack,
    o: Observed,
    log: Logger,
  ): Promise<void> {
    const next = computeStatus(stack, raw.status, o, this.now);
    if (sameStatus(raw.status, next)) return;
    try {
      await this.kube.patchStatus(stack.namespace, stack.name, next);
    } catch (err) {
      if (classify(err) === 'notFound') return;
      throw err;
    }
    log.debug({ ready: next.conditions?.find((c) => c.type === 'Ready')?.status }, 'status written');
  }
}

/** Status equality as stored: times compared as strings, absent and empty lists alike. */
export function sameStatus(a: ServingStackStatus | undefined, b: ServingStackStatus): boolean {
  return JSON.stringify(canonical(a ?? {})) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}
