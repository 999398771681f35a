// A fake API server for the reconciler's unit tests: objects, caches over them, and server-side
// apply modelled as field ownership, which is what the operator's promises depend on. Fields are
// owned leaf by leaf per field manager (lists as one leaf, as atomic lists are); an apply replaces
// that manager's set, so a field it drops goes away unless another manager still owns it; `force`
// takes a field from its other owners, and without force a different value owned by someone else
// is a 409. Deployment `spec.replicas` defaults to 1 when nobody owns it, and resource quantities are
// stored in canonical form, as the API server does. Every request is recorded, reads included, so
// tests count writes the way the audit log does.
import { ApiException, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { canonicalQuantity } from '../../src/builders/quantity.ts';
import type { ServingStack, ServingStackSpec } from '../../src/api/servingstack.ts';
import type { ChildCache } from '../../src/reconcile/reconciler.ts';

type Json = unknown;
type Obj = Record<string, Json>;
type Path = readonly string[];

export interface Request {
  verb: 'apply' | 'get' | 'delete' | 'patch-status' | 'apply-status' | 'create-event' | 'update';
  kind: string;
  name: string;
  manager?: string;
}

const WRITES: ReadonlySet<Request['verb']> = new Set([
  'apply',
  'delete',
  'patch-status',
  'apply-status',
  'create-event',
  'update',
]);

interface Manager {
  name: string;
  operation: 'Apply' | 'Update';
  /** '' for the main resource, 'status' for the status subresource. */
  subresource: '' | 'status';
  leaves: Map<string, Json>;
}

interface Stored {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: number;
  generation: number;
  managers: Manager[];
  /** Fields the server sets itself (status of children, the stack's spec as the user wrote it). */
  server: Obj;
  live: Obj;
}

const STACK_API = 'servingstack.dev/v1alpha1';
export const HTTPROUTE_KEY = 'gateway.networking.k8s.io/v1/HTTPRoute';

const clone = <T>(v: T): T => structuredClone(v);
const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const keyOf = (p: Path) => JSON.stringify(p);
const pathOf = (k: string) => JSON.parse(k) as string[];

/** Leaves of a value: objects are walked (an empty one sets nothing), anything else (lists too) is one leaf. */
function leaves(v: Json, prefix: string[] = [], out = new Map<string, Json>()): Map<string, Json> {
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) if (x !== undefined) leaves(x, [...prefix, k], out);
  } else {
    out.set(keyOf(prefix), clone(v));
  }
  return out;
}

function setPath(o: Obj, p: Path, v: Json): void {
  let cur = o;
  for (const k of p.slice(0, -1)) {
    if (!isObj(cur[k])) cur[k] = {};
    cur = cur[k] as Obj;
  }
  const last = p[p.length - 1];
  if (last !== undefined) cur[last] = clone(v);
}

export function getPath(o: Json, p: Path): Json {
  let cur: Json = o;
  for (const k of p) {
    if (Array.isArray(cur)) cur = cur[Number(k)];
    else if (isObj(cur)) cur = cur[k];
    else return undefined;
  }
  return cur;
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** What the API server does to a resource list: every quantity in canonical form. */
function canonicalResources(config: Obj): Obj {
  const c = clone(config);
  const spec = getPath(c, ['spec', 'template', 'spec']);
  if (!isObj(spec)) return c;
  for (const list of ['containers', 'initContainers']) {
    for (const container of (spec[list] as Obj[] | undefined) ?? []) {
      const r = container.resources;
      if (!isObj(r)) continue;
      for (const part of ['limits', 'requests']) {
        const q = r[part];
        if (isObj(q)) for (const [k, v] of Object.entries(q)) q[k] = canonicalQuantity(v as string | number);
      }
    }
  }
  return c;
}

function notFound(kind: string, name: string): ApiException<string> {
  return new ApiException(404, 'Not Found', JSON.stringify({ message: `${kind} "${name}" not found` }), {});
}

export interface FailureRule {
  verb?: Request['verb'];
  kind?: string;
  error: Error;
  /** How many requests it fails; Infinity until cleared. */
  times: number;
}

export class FakeCluster {
  readonly requests: Request[] = [];
  readonly events: { reason: string; type: string; note: string; regarding: string }[] = [];
  /** Every value a Deployment's spec.replicas took, per Deployment, in order. */
  readonly replicasHistory = new Map<string, number[]>();
  readonly served = new Set<string>([
    'v1/Service',
    'apps/v1/Deployment',
    // Made by the Deployment controller, which tests play: the operator only reads them.
    'apps/v1/ReplicaSet',
    'autoscaling/v2/HorizontalPodAutoscaler',
    'networking.k8s.io/v1/Ingress',
    HTTPROUTE_KEY,
    `${STACK_API}/ServingStack`,
  ]);
  private readonly objects = new Map<string, Stored>();
  private readonly failures: FailureRule[] = [];
  private nextUid = 1;
  private nextRv = 1;
  /** Called at the start of every request; a test may await something in it to hold the request. */
  gate: (r: Request) => Promise<void> = async () => {};

  // ---- what the operator calls (the KubeClient surface) ----

  async apply<T extends KubernetesObject>(
    desired: T,
    opts: { manager?: string; force?: boolean } = {},
  ): Promise<T> {
    const manager = opts.manager ?? 'servingstack-operator';
    const force = opts.force ?? true;
    const kind = desired.kind ?? '';
    await this.enter({ verb: 'apply', kind, name: desired.metadata?.name ?? '', manager });
    this.mustServe(desired.apiVersion, kind);
    const ns = desired.metadata?.namespace ?? '';
    const name = desired.metadata?.name ?? '';
    let s = this.objects.get(this.key(desired.apiVersion ?? '', kind, ns, name));
    if (!s) s = this.create(desired.apiVersion ?? '', kind, ns, name);
    const { apiVersion: _a, kind: _k, ...rest } = desired as unknown as Obj;
    const meta = { ...(rest.metadata as Obj) };
    delete meta.name;
    delete meta.namespace;
    const config = canonicalResources({ ...rest, metadata: meta });
    this.own(s, manager, 'Apply', '', leaves(config), force);
    this.recompute(s);
    return this.withManagedFields(s) as T;
  }

  /** The object as an apply answers it: with managedFields (top-level fields per manager only). */
  private withManagedFields(s: Stored): Obj {
    const o = clone(s.live);
    const managedFields = s.managers.map((m) => ({
      manager: m.name,
      operation: m.operation,
      ...(m.subresource ? { subresource: m.subresource } : {}),
      fieldsV1: Object.fromEntries([...m.leaves.keys()].map((k) => [`f:${pathOf(k)[0] ?? ''}`, {}])),
    }));
    o.metadata = { ...(o.metadata as Obj), managedFields };
    return o;
  }

  /** An object made by someone else (kubectl create): it owns every field it sets. */
  createForeign(obj: KubernetesObject, manager = 'kubectl-create'): void {
    this.requests.push({ verb: 'update', kind: obj.kind ?? '', name: obj.metadata?.name ?? '', manager });
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const s = this.create(obj.apiVersion ?? '', obj.kind ?? '', ns, name);
    const { apiVersion: _a, kind: _k, ...rest } = clone(obj) as unknown as Obj;
    const meta = { ...(rest.metadata as Obj) };
    delete meta.name;
    delete meta.namespace;
    this.own(s, manager, 'Update', '', leaves({ ...rest, metadata: meta }), true);
    this.recompute(s);
  }

  async read(obj: KubernetesObject): Promise<KubernetesObject> {
    const kind = obj.kind ?? '';
    await this.enter({ verb: 'get', kind, name: obj.metadata?.name ?? '' });
    this.mustServe(obj.apiVersion, kind);
    const s = this.objects.get(
      this.key(obj.apiVersion ?? '', kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? ''),
    );
    if (!s) throw notFound(kind, obj.metadata?.name ?? '');
    return clone(s.live) as KubernetesObject;
  }

  async delete(obj: KubernetesObject, uid: string): Promise<void> {
    const kind = obj.kind ?? '';
    await this.enter({ verb: 'delete', kind, name: obj.metadata?.name ?? '' });
    const k = this.key(obj.apiVersion ?? '', kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
    const s = this.objects.get(k);
    if (!s) throw notFound(kind, obj.metadata?.name ?? '');
    if (s.uid !== uid) throw new ApiException(409, 'Conflict', '{"message":"uid precondition failed"}', {});
    this.objects.delete(k);
  }

  /** A JSON merge patch of the status (null removes a field), as the Update operation it is. */
  async patchStatus(namespace: string, name: string, status: Json): Promise<void> {
    await this.enter({ verb: 'patch-status', kind: 'ServingStack', name });
    const s = this.stackOrThrow(namespace, name);
    const patch = leaves({ status });
    const removed = [...patch].filter(([, v]) => v === null).map(([k]) => k);
    for (const m of s.managers) {
      if (m.subresource !== 'status') continue;
      for (const [k] of m.leaves)
        if (removed.some((r) => k === r || k.startsWith(r.slice(0, -1) + ','))) m.leaves.delete(k);
    }
    const set = new Map([...patch].filter(([, v]) => v !== null));
    // A merge patch writes whole lists: the patched manager takes them over.
    const existing = this.manager(s, 'servingstack-operator', 'Update', 'status');
    for (const [k, v] of set) existing.leaves.set(k, v);
    this.own(s, 'servingstack-operator', 'Update', 'status', existing.leaves, true);
    this.recompute(s);
  }

  async applyStatus(namespace: string, name: string, status: Json): Promise<ServingStack> {
    await this.enter({ verb: 'apply-status', kind: 'ServingStack', name });
    const s = this.stackOrThrow(namespace, name);
    this.own(s, 'servingstack-operator', 'Apply', 'status', leaves({ status }), true);
    this.recompute(s);
    return clone(s.live) as unknown as ServingStack;
  }

  readonly eventsApi = {
    createNamespacedEvent: async (p: { namespace: string; body: Obj }) => {
      const b = p.body;
      await this.enter({ verb: 'create-event', kind: 'Event', name: String(b.reason) });
      this.events.push({
        reason: String(b.reason),
        type: String(b.type),
        note: String(b.note),
        regarding: String((b.regarding as Obj | undefined)?.name),
      });
      return b;
    },
  };

  // ---- what a user, another controller or the test does ----

  /** Creates the stack or replaces its spec (generation moves when the spec changes). */
  putStack(spec: ServingStackSpec, name = 'sentiment', namespace = 'ml'): ServingStack {
    let s = this.objects.get(this.key(STACK_API, 'ServingStack', namespace, name));
    if (!s) s = this.create(STACK_API, 'ServingStack', namespace, name);
    s.server.spec = clone(spec) as Json;
    this.recompute(s);
    return clone(s.live) as unknown as ServingStack;
  }

  deleteStack(name = 'sentiment', namespace = 'ml'): void {
    this.objects.delete(this.key(STACK_API, 'ServingStack', namespace, name));
  }

  stack(name = 'sentiment', namespace = 'ml'): ServingStack {
    return clone(this.stackOrThrow(namespace, name).live) as unknown as ServingStack;
  }

  /** An Update by another field manager (kubectl edit, the HPA controller): it owns what it changes. */
  update(
    apiVersion: string,
    kind: string,
    name: string,
    edit: (o: Obj) => void,
    manager = 'kubectl-edit',
    namespace = 'ml',
  ): void {
    this.requests.push({ verb: 'update', kind, name, manager });
    const s = this.objects.get(this.key(apiVersion, kind, namespace, name));
    if (!s) throw new Error(`no ${kind} ${name}`);
    const before = leaves(this.ownedPart(s.live));
    const after = clone(s.live);
    edit(after);
    const now = leaves(this.ownedPart(after));
    for (const k of before.keys()) {
      if (!now.has(k)) for (const m of s.managers) m.leaves.delete(k);
    }
    const changed = new Map([...now].filter(([k, v]) => !before.has(k) || !same(before.get(k), v)));
    const m = this.manager(s, manager, 'Update', '');
    for (const [k, v] of changed) m.leaves.set(k, v);
    this.own(s, manager, 'Update', '', m.leaves, true);
    // What the server itself keeps (status) follows the edit too.
    if (isObj(after.status)) s.server.status = after.status;
    this.recompute(s);
  }

  /** The HPA controller sets the replica count through the scale subresource. */
  hpaScales(deployment: string, replicas: number): void {
    this.update(
      'apps/v1',
      'Deployment',
      deployment,
      (o) => setPath(o, ['spec', 'replicas'], replicas),
      'kube-controller-manager',
    );
  }

  /** Status written by someone else (a Deployment's readiness, a Gateway's verdict on a route). */
  setServerStatus(apiVersion: string, kind: string, name: string, status: Json, namespace = 'ml'): void {
    const s = this.objects.get(this.key(apiVersion, kind, namespace, name));
    if (!s) throw new Error(`no ${kind} ${name}`);
    s.server.status = clone(status);
    this.recompute(s);
  }

  get(apiVersion: string, kind: string, name: string, namespace = 'ml'): Obj | undefined {
    const s = this.objects.get(this.key(apiVersion, kind, namespace, name));
    return s ? clone(s.live) : undefined;
  }

  names(kind: string, namespace = 'ml'): string[] {
    return [...this.objects.values()]
      .filter((s) => s.kind === kind && s.namespace === namespace)
      .map((s) => s.name)
      .sort();
  }

  /** Managers owning `path` of an object, e.g. ['spec','replicas']. */
  owners(apiVersion: string, kind: string, name: string, path: Path, namespace = 'ml'): string[] {
    const s = this.objects.get(this.key(apiVersion, kind, namespace, name));
    return (s?.managers ?? []).filter((m) => m.leaves.has(keyOf(path))).map((m) => m.name);
  }

  fail(rule: Omit<FailureRule, 'times'> & { times?: number }): void {
    this.failures.push({ times: 1, ...rule });
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  writes(since = 0): Request[] {
    return this.requests.slice(since).filter((r) => WRITES.has(r.verb));
  }

  get mark(): number {
    return this.requests.length;
  }

  /** Informer caches over the objects: list-shaped copies (no apiVersion or kind), managed children only. */
  caches(): { stacks: ObjectCache<ServingStack>; children: Map<string, ChildCache> } {
    const view = <T extends KubernetesObject>(match: (s: Stored) => boolean) =>
      indexed<T>({
        get: (name, namespace) => {
          const s = [...this.objects.values()].find(
            (x) => match(x) && x.name === name && x.namespace === namespace,
          );
          return s ? (this.listShaped(s) as T) : undefined;
        },
        list: (namespace) =>
          [...this.objects.values()]
            .filter((x) => match(x) && (!namespace || x.namespace === namespace))
            .map((x) => this.listShaped(x) as T),
      });
    const children = new Map<string, ChildCache>();
    for (const k of this.served) {
      if (k.endsWith('/ServingStack')) continue;
      children.set(
        k,
        view((s) => {
          const kk = `${s.apiVersion}/${s.kind}`;
          const labels = (getPath(s.live, ['metadata', 'labels']) ?? {}) as Obj;
          // An informer of a kind the cluster does not serve holds nothing.
          return (
            kk === k &&
            this.served.has(kk) &&
            labels['app.kubernetes.io/managed-by'] === 'servingstack-operator'
          );
        }),
      );
    }
    return { stacks: view((s) => s.kind === 'ServingStack'), children };
  }

  // ---- internals ----

  private async enter(r: Request): Promise<void> {
    this.requests.push(r);
    await this.gate(r);
    const rule = this.failures.find(
      (f) =>
        f.times > 0 &&
        (f.verb === undefined || f.verb === r.verb) &&
        (f.kind === undefined || f.kind === r.kind),
    );
    if (rule) {
      rule.times -= 1;
      throw rule.error;
    }
  }

  private mustServe(apiVersion: string | undefined, kind: string): void {
    if (this.served.has(`${apiVersion}/${kind}`)) return;
    const e = new ApiException(
      404,
      'Not Found',
      '{"message":"the server could not find the requested resource"}',
      {},
    );
    e.message = `Failed to fetch resource metadata for ${apiVersion}/${kind}: ${e.message}`;
    throw e;
  }

  private key(apiVersion: string, kind: string, ns: string, name: string): string {
    return `${apiVersion}/${kind}/${ns}/${name}`;
  }

  private create(apiVersion: string, kind: string, namespace: string, name: string): Stored {
    const s: Stored = {
      apiVersion,
      kind,
      name,
      namespace,
      uid: `uid-${this.nextUid++}`,
      resourceVersion: 0,
      generation: 0,
      managers: [],
      server: {},
      live: {},
    };
    this.objects.set(this.key(apiVersion, kind, namespace, name), s);
    return s;
  }

  private stackOrThrow(namespace: string, name: string): Stored {
    const s = this.objects.get(this.key(STACK_API, 'ServingStack', namespace, name));
    if (!s) throw notFound('ServingStack', name);
    return s;
  }

  private manager(
    s: Stored,
    name: string,
    operation: Manager['operation'],
    sub: Manager['subresource'],
  ): Manager {
    let m = s.managers.find((x) => x.name === name && x.operation === operation && x.subresource === sub);
    if (!m) {
      m = { name, operation, subresource: sub, leaves: new Map() };
      s.managers.push(m);
    }
    return m;
  }

  /** `name` now owns exactly `set` (of its subresource); conflicts as server-side apply has them. */
  private own(
    s: Stored,
    name: string,
    operation: Manager['operation'],
    sub: Manager['subresource'],
    set: Map<string, Json>,
    force: boolean,
  ): void {
    const others = s.managers.filter(
      (m) => m.subresource === sub && !(m.name === name && m.operation === operation),
    );
    const conflicts: string[] = [];
    for (const [k, v] of set) {
      for (const o of others) {
        // A leaf and an ancestor or descendant of it cannot both be owned with different values.
        for (const [ok, ov] of o.leaves) {
          const related =
            ok === k || ok.startsWith(k.slice(0, -1) + ',') || k.startsWith(ok.slice(0, -1) + ',');
          if (!related || (ok === k && same(ov, v))) continue;
          if (force) o.leaves.delete(ok);
          else conflicts.push(`${pathOf(ok).join('.')} (${o.name})`);
        }
      }
    }
    if (conflicts.length > 0) {
      throw new ApiException(
        409,
        'Conflict',
        JSON.stringify({ message: `Apply failed with conflicts: ${conflicts.join(', ')}` }),
        {},
      );
    }
    const m = this.manager(s, name, operation, sub);
    m.leaves = new Map(set);
    s.managers = s.managers.filter((x) => x.leaves.size > 0 || x === m);
  }

  private ownedPart(o: Obj): Obj {
    const meta = { ...((o.metadata as Obj | undefined) ?? {}) };
    for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'generation']) delete meta[k];
    const { apiVersion: _a, kind: _k, status: _s, ...rest } = o;
    return { ...rest, metadata: meta };
  }

  private recompute(s: Stored): void {
    const live: Obj = {};
    if (s.kind === 'ServingStack') setPath(live, ['spec'], s.server.spec);
    for (const m of s.managers) {
      if (m.subresource === '') for (const [k, v] of m.leaves) setPath(live, pathOf(k), v);
    }
    const status: Obj = {};
    for (const m of s.managers) {
      if (m.subresource === 'status') for (const [k, v] of m.leaves) setPath(status, pathOf(k), v);
    }
    if (s.kind === 'Deployment' && getPath(live, ['spec', 'replicas']) === undefined) {
      setPath(live, ['spec', 'replicas'], 1);
    }
    const old = s.live;
    const specOld = JSON.stringify(getPath(old, ['spec']));
    const merged: Obj = {
      ...live,
      ...(Object.keys(status).length > 0 ? { status: (status as Obj).status } : {}),
      ...(s.server.status !== undefined ? { status: s.server.status } : {}),
    };
    const changed = !same(this.ownedPart(old), this.ownedPart(merged)) || !same(old.status, merged.status);
    if (changed || s.resourceVersion === 0) s.resourceVersion = this.nextRv++;
    if (JSON.stringify(getPath(merged, ['spec'])) !== specOld) s.generation += 1;
    merged.metadata = {
      ...((merged.metadata as Obj | undefined) ?? {}),
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      resourceVersion: String(s.resourceVersion),
      generation: s.generation,
    };
    s.live = { apiVersion: s.apiVersion, kind: s.kind, ...merged };
    if (s.kind === 'Deployment') {
      const h = this.replicasHistory.get(s.name) ?? [];
      const r = getPath(s.live, ['spec', 'replicas']) as number;
      if (h[h.length - 1] !== r) h.push(r);
      this.replicasHistory.set(s.name, h);
    }
  }

  private listShaped(s: Stored): Obj {
    const { apiVersion: _a, kind: _k, ...rest } = clone(s.live);
    return rest;
  }
}

/** A test's cache as an informer's: what one controller controls found by a scan of list(). */
export function indexed<T extends KubernetesObject>(
  c: ObjectCache<T>,
): ObjectCache<T> & { controlledBy(uid: string, namespace: string): T[] } {
  return {
    get: (name, namespace) => c.get(name, namespace),
    list: (namespace) => c.list(namespace),
    controlledBy: (uid, namespace) =>
      c
        .list(namespace)
        .filter((o) => o.metadata?.ownerReferences?.some((r) => r.controller === true && r.uid === uid)),
  };
}
