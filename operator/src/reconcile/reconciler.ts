// One reconcile pass for one stack: read it from the cache, build the whole desired state, apply
// each child whose intent is not in effect (Services, Deployments and routing at once, then the
// HPAs, which target the Deployments), prune what is no longer wanted once what replaces it is
// in place (make before break), and write the status if it changed. Level-based: it never looks at
// which event caused it. A child missing from the caches is created by an apply without force,
// never read first: the answer says when the name is someone else's (ownership.ts). It posts one
// Event at most. Every failure, transient ones included, shows in the status before the
// pass fails and the work queue backs off.
import type {
  KubernetesObject,
  ObjectCache,
  V1Deployment,
  V1ReplicaSet,
  V1Service,
} from '@kubernetes/client-node';
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
import { desiredSet } from '../builders/model-version.ts';
import {
  childNames,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_MODEL_SET,
  labelValue,
} from '../builders/names.ts';
import { planSwitch } from '../builders/switch.ts';
import { controllerStackUid } from '../builders/owner.ts';
import { sameStatus, staleFields } from '../status/compare.ts';
import { computeStatus, type Blocker, type Observed } from '../status/compute.ts';
import type { Clock } from '../status/conditions.ts';
import { apiMessage, classify, statusCode } from './errors.ts';
import type { EventRecorder, StackEvent } from './events.ts';
import { inEffect, withIntent } from './intent.ts';
import { foreignWriter, released } from './ownership.ts';
import { CHILD_KINDS, childKind, kindKey } from './kinds.ts';
import type { Kube } from './kube-client.ts';
import { HANDOVER_MANAGER, holdReplicas, leavesReplicasOut, releasesReplicas } from './replicas.ts';
import { gatewayJudged, routeVerdict } from './route-acceptance.ts';

/** A cache of children that finds those of one controller without a scan of the namespace. */
export interface ChildCache extends ObjectCache<KubernetesObject> {
  /** The objects in `namespace` whose controller owner reference names `uid`. */
  controlledBy(uid: string, namespace: string): KubernetesObject[];
}

export interface Caches {
  stacks: ObjectCache<ServingStack>;
  /** Owned objects, and the observed ones (kinds.ts), by kindKey(apiVersion, kind). */
  children: ReadonlyMap<string, ChildCache>;
}

export interface ReconcileResult {
  /** Look again after this long even without events (e.g. a blocker someone else may clear). */
  requeueAfterMs?: number;
}

const BLOCKED_RECHECK_MS = 60_000;
/** A new route waiting for its Gateway's verdict: usually a matter of seconds. */
const WAITING_RECHECK_MS = 5_000;

/** A failed API call, named by the step that made it: the status and the log say which. */
export class StepError extends Error {
  override readonly name = 'StepError';
  constructor(step: string, cause: unknown) {
    super(`${step}: ${apiMessage(cause)}`, { cause });
  }
}

function describe(o: KubernetesObject): string {
  return `${o.kind} ${o.metadata?.name}`;
}

const componentOf = (o: KubernetesObject) => o.metadata?.labels?.[LABEL_COMPONENT] ?? '';
const childKey = (o: KubernetesObject) => `${kindKey(o.apiVersion, o.kind)}/${o.metadata?.name}`;

/** What one pass learns as it goes. */
interface Pass {
  stack: DefaultedStack;
  log: Logger;
  /** For the one Applied event of the pass. */
  changes: string[];
  /** Standing warnings: posted when new, not while they stand. */
  warnings: StackEvent[];
  deployments: Partial<Record<Pool, V1Deployment>>;
  blocker?: Blocker;
  routingBlocker?: Blocker;
  /** Components (a pool, routing) with a child in place, and with a child not in place. */
  placed: Set<string>;
  unplaced: Set<string>;
  /** Something waits on someone else who usually answers in seconds. */
  waiting: boolean;
  /** Uids of the children this pass found to be this stack's. */
  uids: Set<string>;
  /** Those of the stack's last pass. */
  known: ReadonlySet<string>;
}

/** A part of a pass for one child, merged back with merge(). */
/** A pass with nothing done yet, for `stack`. */
const freshPass = (stack: Pass['stack'], log: Pass['log'], known: Pass['known']): Pass => ({
  stack,
  log,
  changes: [],
  warnings: [],
  deployments: {},
  placed: new Set(),
  unplaced: new Set(),
  waiting: false,
  uids: new Set(),
  known,
});

const part = (p: Pass): Pass => freshPass(p.stack, p.log, p.known);

function merge(p: Pass, q: Pass): void {
  p.changes.push(...q.changes);
  p.warnings.push(...q.warnings);
  Object.assign(p.deployments, q.deployments);
  p.blocker ??= q.blocker;
  p.routingBlocker ??= q.routingBlocker;
  for (const c of q.placed) p.placed.add(c);
  for (const c of q.unplaced) p.unplaced.add(c);
  p.waiting ||= q.waiting;
  for (const u of q.uids) p.uids.add(u);
}

const inPlace = (p: Pass, component: string) => p.placed.has(component) && !p.unplaced.has(component);

export class Reconciler {
  private readonly caches: Caches;
  private readonly kube: Kube;
  private readonly events: EventRecorder;
  private readonly ctx: BuildContext;
  private readonly now: Clock;
  private readonly log: Logger;
  /**
   * Uids of each stack's children as its last pass found them (cache or apply answer), by
   * namespace/name. A child the caches do not show whose apply answer names another writer is
   * this stack's if its uid is here (someone edited it, e.g. kubectl rollout restart); the answer
   * alone cannot tell, since the apply has just made it look like the stack's either way.
   */
  private readonly childUids = new Map<string, { stack: string; uids: ReadonlySet<string> }>();
  /**
   * Uids of objects of someone else that an apply without force took and whose give-back has not
   * succeeded yet, by stack namespace/name: until it does they carry the stack's labels and owner
   * reference and the caches show them as its children; they must be given back, never adopted
   * (nor pruned).
   */
  private readonly notOurs = new Map<string, Set<string>>();
  /**
   * Uid of each Deployment this process pruned, by namespace/name, until the cache shows it gone
   * or replaced: until then the cache still holds it as it was (ready, say), and a switch together
   * must not move the Services to a set whose Deployments are being deleted.
   */
  private readonly prunedDeployments = new Map<string, string>();

  constructor(caches: Caches, kube: Kube, events: EventRecorder, ctx: BuildContext, now: Clock, log: Logger) {
    this.caches = caches;
    this.kube = kube;
    this.events = events;
    this.ctx = ctx;
    this.now = now;
    this.log = log;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const raw = this.caches.stacks.get(name, namespace);
    // Gone or going: owner references let the garbage collector take the children.
    if (!raw || raw.metadata.deletionTimestamp) {
      this.events.forget(namespace, name);
      this.childUids.delete(`${namespace}/${name}`);
      this.notOurs.delete(`${namespace}/${name}`);
      return {};
    }
    const stack = withDefaults(raw);
    const last = this.childUids.get(`${namespace}/${name}`);
    const p = freshPass(
      stack,
      this.log.child({ stack: `${namespace}/${name}`, generation: stack.generation }),
      last?.stack === stack.uid ? last.uids : new Set(),
    );
    let provider: string = stack.spec.routing.provider;
    let unexpressedRules: string[] = [];
    let failure: unknown;
    // Which set of Deployments serves, which is built and which is kept (switchStrategy Together).
    const plan = planSwitch(stack, {
      liveSet: this.liveSet(stack),
      deployment: (pool, set) => this.cachedDeployment(stack, pool, set),
    });
    try {
      const desired = buildDesired(stack, this.ctx, plan);
      provider = desired.provider;
      unexpressedRules = desired.unexpressedRules;
      const wanted = new Set(desired.children.map(childKey));
      const kept = new Set(
        plan.keep === undefined
          ? []
          : POOLS.map(
              (pool) => `${kindKey('apps/v1', 'Deployment')}/${childNames.poolSet(stack, pool, plan.keep!)}`,
            ),
      );
      const unwanted = this.owned(stack).filter((o) => !wanted.has(childKey(o)) && !kept.has(childKey(o)));
      await this.ensureAll(p, desired.children, unwanted);
      await this.prune(p, unwanted);
    } catch (err) {
      if (err instanceof InvalidSpecError) {
        p.blocker = { reason: 'InvalidSpec', message: err.message };
      } else {
        failure = err;
        const message = err instanceof StepError ? err.message : apiMessage(err);
        p.blocker = { reason: 'ApiError', message: `${message}; retrying with backoff` };
      }
      p.warnings.push({
        type: 'Warning',
        reason: p.blocker.reason,
        action: 'Reconcile',
        note: p.blocker.message,
      });
    }
    // Last, so that the Event of a pass with a blocker is named by the blocker.
    if (unexpressedRules.length > 0) {
      p.warnings.push({
        type: 'Warning',
        reason: 'RoutingRulesNotExpressible',
        action: 'Apply',
        note: unexpressedNote(provider, unexpressedRules),
      });
    }

    // A pass cut short has not seen every child: it keeps what the last one knew too.
    if (failure !== undefined) for (const u of p.known) p.uids.add(u);
    this.childUids.set(`${namespace}/${name}`, { stack: stack.uid, uids: p.uids });

    // The status reads the set that serves; while a new one gets ready, that is the kept one.
    for (const pool of POOLS) {
      if (plan.keep !== undefined) p.deployments[pool] = this.cachedDeployment(stack, pool, plan.keep);
      else p.deployments[pool] ??= this.cachedDeployment(stack, pool, plan.serve);
    }
    const observed: Observed = {
      deployments: p.deployments,
      replicaSets: Object.fromEntries(POOLS.map((pool) => [pool, this.replicaSetsOf(p.deployments[pool])])),
      ...(plan.keep !== undefined
        ? {
            startingReplicaSets: Object.fromEntries(
              POOLS.map((pool) => [pool, this.replicaSetsOf(this.cachedDeployment(stack, pool, plan.build))]),
            ),
            switchWaiting: plan.waiting,
          }
        : {}),
      routingApplied: inPlace(p, 'routing'),
      unexpressedRules,
      provider,
      blocker: p.blocker ?? p.routingBlocker,
      routingBlocker: p.routingBlocker,
    };
    const next = computeStatus(stack, raw.status, observed, this.now);
    // One Event at most. A pass cut short has not seen every standing warning: none is forgotten then.
    await this.events.pass(stack, p.changes, p.warnings, failure === undefined, (w) =>
      shownBy(raw.status, w),
    );
    try {
      await this.writeStatus(raw, stack, next);
    } catch (err) {
      if (failure === undefined) throw err;
      p.log.warn({ err: apiMessage(err) }, 'could not write the status after a failed pass');
    }
    if (failure !== undefined) throw failure;
    if (observed.blocker) return { requeueAfterMs: p.waiting ? WAITING_RECHECK_MS : BLOCKED_RECHECK_MS };
    return {};
  }

  /** Children this stack controls, from the caches. */
  private owned(stack: DefaultedStack): KubernetesObject[] {
    const instance = labelValue(stack.name);
    return CHILD_KINDS.flatMap((k) =>
      (
        this.caches.children.get(kindKey(k.apiVersion, k.kind))?.controlledBy(stack.uid, stack.namespace) ??
        []
      )
        .filter(
          (o) =>
            o.metadata?.labels?.[LABEL_INSTANCE] === instance &&
            controllerStackUid(o.metadata) === stack.uid &&
            !this.notOurs.get(`${stack.namespace}/${stack.name}`)?.has(o.metadata?.uid ?? '') &&
            !o.metadata?.deletionTimestamp,
        )
        // List responses leave apiVersion and kind out of their items.
        .map((o) => ({ ...o, apiVersion: k.apiVersion, kind: k.kind })),
    );
  }

  /** The ReplicaSets `dep` controls, from the cache. */
  private replicaSetsOf(dep: V1Deployment | undefined): V1ReplicaSet[] {
    const uid = dep?.metadata?.uid;
    const namespace = dep?.metadata?.namespace;
    if (!uid || !namespace) return [];
    return (
      this.caches.children.get(kindKey('apps/v1', 'ReplicaSet'))?.controlledBy(uid, namespace) ?? []
    ).filter((rs) =>
      rs.metadata?.ownerReferences?.some((r) => r.controller === true && r.uid === uid),
    ) as V1ReplicaSet[];
  }

  /** A pool's Deployment of `set` (switch.ts) from the cache, when this stack controls it. */
  private cachedDeployment(stack: DefaultedStack, pool: Pool, set: string): V1Deployment | undefined {
    const cache = this.caches.children.get(kindKey('apps/v1', 'Deployment'));
    const name = childNames.poolSet(stack, pool, set);
    const d = cache?.get(name, stack.namespace) as V1Deployment | undefined;
    const key = `${stack.namespace}/${name}`;
    const pruned = this.prunedDeployments.get(key);
    if (pruned !== undefined && pruned === d?.metadata?.uid) return undefined;
    if (pruned !== undefined) this.prunedDeployments.delete(key);
    return d && controllerStackUid(d.metadata) === stack.uid ? d : undefined;
  }

  /** The set the pools' Services select (the throughput one's says); undefined before it exists. */
  private liveSet(stack: DefaultedStack): string | undefined {
    const cache = this.caches.children.get(kindKey('v1', 'Service'));
    const svc = cache?.get(childNames.pool(stack, 'throughput'), stack.namespace) as V1Service | undefined;
    if (!svc || controllerStackUid(svc.metadata) !== stack.uid) return undefined;
    return svc.spec?.selector?.[LABEL_MODEL_SET] ?? '';
  }

  private block(p: Pass, component: string, blocker: Blocker, warn: boolean): void {
    p.unplaced.add(component);
    if (component === 'routing') p.routingBlocker ??= blocker;
    else p.blocker ??= blocker;
    if (warn)
      p.warnings.push({ type: 'Warning', reason: blocker.reason, action: 'Apply', note: blocker.message });
  }

  /**
   * Services, Deployments and routing at once, then the HPAs (after the Deployments they target).
   * Each child works on its own part of the pass, merged in the children's order, so the status,
   * the log and the Event do not depend on which answer came first.
   */
  private async ensureAll(
    p: Pass,
    children: KubernetesObject[],
    unwanted: KubernetesObject[],
  ): Promise<void> {
    const last = (c: KubernetesObject) => c.kind === 'HorizontalPodAutoscaler';
    for (const group of [children.filter((c) => !last(c)), children.filter(last)]) {
      const parts = group.map(() => part(p));
      const results = await Promise.allSettled(
        group.map((c, i) => this.ensure(parts[i] as Pass, c, unwanted)),
      );
      for (const q of parts) merge(p, q);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
  }

  private conflict(p: Pass, component: string, desired: KubernetesObject): void {
    this.block(
      p,
      component,
      {
        reason: 'ChildConflict',
        message: `${describe(desired)} already exists and is not controlled by this ServingStack; rename or delete it`,
      },
      true,
    );
  }

  /** Makes one child hold the intent, and notes whether it is in place. */
  private async ensure(p: Pass, desired: KubernetesObject, unwanted: KubernetesObject[]): Promise<void> {
    const { stack } = p;
    const component = componentOf(desired);
    const cache = this.caches.children.get(kindKey(desired.apiVersion, desired.kind));
    let live: KubernetesObject | undefined = cache?.get(desired.metadata?.name ?? '', stack.namespace);
    if (live && controllerStackUid(live.metadata) !== stack.uid) return this.conflict(p, component, desired);
    const intent = withIntent(desired);
    if (live && this.notOurs.get(`${stack.namespace}/${stack.name}`)?.has(live.metadata?.uid ?? ''))
      return this.giveBack(p, component, intent, live.metadata?.uid ?? '', 'not given back yet');
    if (live?.metadata?.uid) p.uids.add(live.metadata.uid);
    if (!live) {
      live = await this.create(p, component, intent);
      if (!live) return;
    } else if (!inEffect(intent, live)) {
      if (leavesReplicasOut(intent)) await this.holdReplicas(p, intent);
      live = await this.update(p, component, intent);
      if (!live) return;
    }
    if (desired.kind === 'Deployment') {
      const set = desiredSet(stack.spec.model);
      const pool = POOLS.find((x) => childNames.poolSet(stack, x, set) === desired.metadata?.name);
      if (pool) p.deployments[pool] = live as V1Deployment;
    }
    if (childKind(desired.apiVersion, desired.kind)?.judgedByGateway)
      await this.judge(p, component, live, unwanted);
    if (!p.unplaced.has(component)) p.placed.add(component);
  }

  /** A forced apply of a child of this stack; undefined when it is blocked. */
  private async update(
    p: Pass,
    component: string,
    intent: KubernetesObject,
  ): Promise<KubernetesObject | undefined> {
    try {
      const live = await this.kube.apply(intent);
      if (live.metadata?.uid) p.uids.add(live.metadata.uid);
      p.log.info({ child: describe(intent) }, 'updated child');
      p.changes.push(`updated ${describe(intent)}`);
      return live;
    } catch (err) {
      this.applyFailed(p, component, intent, err);
      return undefined;
    }
  }

  /**
   * A child the caches do not hold: applied without force, which creates it where the name is free
   * and tells (ownership.ts) when it is someone else's. Undefined when it is blocked.
   */
  private async create(
    p: Pass,
    component: string,
    intent: KubernetesObject,
  ): Promise<KubernetesObject | undefined> {
    let live: KubernetesObject;
    try {
      live = await this.kube.apply(intent, { force: false });
    } catch (err) {
      const code = statusCode(err);
      // 422 too: applied onto someone else's object the intent may be invalid (an immutable
      // selector, a second controller), which says nothing about the intent itself.
      if (code !== 409 && code !== 422) {
        this.applyFailed(p, component, intent, err);
        return undefined;
      }
      // Only now read it: someone else's, or this stack's child that the caches do not show yet.
      let other: KubernetesObject;
      try {
        other = await this.kube.read(intent);
      } catch (readErr) {
        // Nothing there: the intent itself was refused.
        if (code === 422 && classify(readErr) === 'notFound') {
          this.applyFailed(p, component, intent, err);
          return undefined;
        }
        throw new StepError(`read ${describe(intent)}`, readErr);
      }
      if (controllerStackUid(other.metadata) !== p.stack.uid) {
        this.conflict(p, component, intent);
        return undefined;
      }
      return this.update(p, component, intent);
    }
    const uid = live.metadata?.uid ?? '';
    const writer = foreignWriter(live);
    if (writer !== undefined && p.known.has(uid)) {
      // This stack's child, which someone else edited: the apply without force held the intent.
      p.uids.add(uid);
      p.log.info({ child: describe(intent), writer }, 'applied child the caches do not show yet');
      p.changes.push(`updated ${describe(intent)}`);
      return live;
    }
    if (writer !== undefined) {
      // Someone else's object that held the operator's values already: give back what the apply took.
      await this.giveBack(p, component, intent, uid, writer);
      return undefined;
    }
    if (uid) p.uids.add(uid);
    p.log.info({ child: describe(intent) }, 'created child');
    p.changes.push(`created ${describe(intent)}`);
    return live;
  }

  /** Gives back what an apply took of someone else's object; remembered until that succeeds. */
  private async giveBack(
    p: Pass,
    component: string,
    intent: KubernetesObject,
    uid: string,
    writer: string,
  ): Promise<void> {
    const key = `${p.stack.namespace}/${p.stack.name}`;
    const pending = this.notOurs.get(key) ?? new Set<string>();
    this.notOurs.set(key, pending);
    pending.add(uid);
    try {
      await this.kube.apply(released(intent), { force: false });
    } catch (err) {
      throw new StepError(`release ${describe(intent)}`, err);
    }
    pending.delete(uid);
    if (pending.size === 0) this.notOurs.delete(key);
    p.log.warn({ child: describe(intent), writer }, 'name taken by an object of someone else');
    this.conflict(p, component, intent);
  }

  private applyFailed(p: Pass, component: string, intent: KubernetesObject, err: unknown): void {
    const c = classify(err);
    if (c === 'missingKind') return this.block(p, component, this.missingKind(intent), false);
    if (c !== 'rejected') throw new StepError(`apply ${describe(intent)}`, err);
    const message = `${describe(intent)}: ${apiMessage(err)}`;
    p.log.warn({ child: describe(intent), err: message }, 'apply rejected');
    this.block(p, component, { reason: 'ApplyRejected', message }, true);
  }

  /** Holds a Deployment's replicas at the live count while the operator's apply lets go of them. */
  private async holdReplicas(p: Pass, intent: KubernetesObject): Promise<void> {
    // Read from the API server, not the cache: a cache that has not yet seen the operator's last
    // write (replicas changed, or autoscaling just turned off) would hold a stale count, which
    // conflicts with the operator's own and so is skipped, or hold nothing; either way the apply
    // below would release replicas nobody else holds, and the pool would drop to 1.
    let live: KubernetesObject;
    try {
      live = await this.kube.read(intent);
    } catch (err) {
      if (classify(err) === 'notFound') return;
      throw new StepError(`read ${describe(intent)}`, err);
    }
    if (!releasesReplicas(intent, live)) return;
    try {
      await this.kube.apply(holdReplicas(intent, live), { manager: HANDOVER_MANAGER, force: false });
      p.log.info({ child: describe(intent) }, 'replicas held for the hand-over to the HPA');
    } catch (err) {
      // A conflict: the HPA has claimed replicas already, which is where the hand-over ends.
      if (statusCode(err) !== 409) throw new StepError(`hand replicas of ${describe(intent)} over`, err);
    }
  }

  /** A route is in place once its Gateway accepts it, where the Gateway's controller reports that. */
  private async judge(
    p: Pass,
    component: string,
    route: KubernetesObject,
    unwanted: KubernetesObject[],
  ): Promise<void> {
    const gw = p.stack.spec.routing.gateway;
    if (!gw) return;
    const namespace = gw.namespace ?? p.stack.namespace;
    const parent = `Gateway ${namespace}/${gw.name}`;
    const verdict = routeVerdict(route, gw);
    if (verdict.state === 'accepted') return;
    if (verdict.state === 'refused') {
      const message = `${parent} does not accept ${describe(route)}: ${verdict.reason}${verdict.message ? `: ${verdict.message}` : ''}`;
      return this.block(p, component, { reason: 'RouteNotAccepted', message }, true);
    }
    // No verdict yet. Worth waiting for only while old routes hang on it, and only if a controller
    // judges that Gateway at all (otherwise none will ever come).
    if (!unwanted.some((o) => componentOf(o) === component)) return;
    let gateway: KubernetesObject;
    try {
      gateway = await this.kube.read({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: gw.name, namespace },
      });
    } catch (err) {
      const c = classify(err);
      if (c !== 'notFound' && c !== 'missingKind') throw new StepError(`read ${parent}`, err);
      const message = `${parent} does not exist, so ${describe(route)} routes nothing yet`;
      return this.block(p, component, { reason: 'GatewayNotFound', message }, true);
    }
    if (!gatewayJudged(gateway)) return;
    p.waiting = true;
    const message = `waiting for ${parent} to accept ${describe(route)}`;
    this.block(p, component, { reason: 'RouteNotAccepted', message }, false);
  }

  private missingKind(desired: KubernetesObject): Blocker {
    return {
      reason: 'ProviderNotInstalled',
      message: `the cluster does not serve ${desired.apiVersion} ${desired.kind}; install its CRDs or choose another spec.routing.provider`,
    };
  }

  /**
   * Deletes children the stack no longer wants, each only once every wanted child of its part (its
   * pool, or routing) is in place: an HPA goes after the Deployment carries replicas, Ingresses
   * after the HTTPRoute that replaces them is accepted.
   */
  private async prune(p: Pass, unwanted: KubernetesObject[]): Promise<void> {
    const kept: KubernetesObject[] = [];
    for (const obj of unwanted) {
      if (!inPlace(p, componentOf(obj))) {
        kept.push(obj);
        continue;
      }
      try {
        await this.kube.delete(obj, obj.metadata?.uid ?? '');
      } catch (err) {
        if (classify(err) === 'notFound') continue;
        // 409 here is a failed uid precondition: the object was replaced; the next pass decides.
        if (statusCode(err) === 409) continue;
        throw new StepError(`delete ${describe(obj)}`, err);
      }
      if (obj.kind === 'Deployment' && obj.metadata?.uid)
        this.prunedDeployments.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj.metadata.uid);
      p.log.info({ child: describe(obj) }, 'pruned child');
      p.changes.push(`pruned ${describe(obj)}`);
    }
    if (kept.length > 0)
      p.log.info({ kept: kept.map(describe) }, 'kept until what replaces them is in place');
    const routes = kept.filter((o) => componentOf(o) === 'routing').map(describe);
    const b = p.routingBlocker;
    if (b && routes.length > 0)
      p.routingBlocker = {
        ...b,
        message: `${b.message}; ${routes.join(', ')} keep routing the host meanwhile`,
      };
  }

  private async writeStatus(
    raw: ServingStack,
    stack: DefaultedStack,
    next: ServingStackStatus,
  ): Promise<void> {
    if (sameStatus(raw.status, next)) return;
    let written: ServingStack;
    try {
      written = await this.kube.applyStatus(stack.namespace, stack.name, next);
    } catch (err) {
      if (classify(err) === 'notFound') return;
      throw new StepError('write the status', err);
    }
    // Fields another field manager still holds (an older operator's merge patches): removed once.
    const stale = staleFields(written.status, next);
    if (stale) await this.kube.patchStatus(stack.namespace, stack.name, stale);
  }
}

const unexpressedNote = (provider: string, rules: readonly string[]) =>
  `${provider} cannot express: ${rules.join('; ')}`;

/**
 * Whether `status` (as an earlier pass wrote it) shows warning `w`: the rules the provider cannot
 * express, or a blocker in a condition of its reason (Routing's message may go on after it).
 */
function shownBy(status: ServingStackStatus | undefined, w: StackEvent): boolean {
  if (w.reason === 'RoutingRulesNotExpressible') {
    const r = status?.routing;
    return !!r?.unexpressedRules?.length && unexpressedNote(r.provider ?? '', r.unexpressedRules) === w.note;
  }
  return (status?.conditions ?? []).some(
    (c) => c.reason === w.reason && (c.message === w.note || !!c.message?.startsWith(`${w.note}; `)),
  );
}
