// What the caches keep of each object, and which changes of it are worth a pass.
// An informer holds every stack and child for the life of the process, so each cached object is
// cut down to what the operator reads (a transform at the informer):
//  - everywhere: no managedFields (change detection uses the intent annotation and live values,
//    intent.ts), no kubectl last-applied annotation, no timestamps but deletionTimestamp;
//  - children: the status only where the operator reads it (a Deployment's replica counts and its
//    Available/Progressing conditions for the stack's status, an HTTPRoute's parents for the
//    Gateway's verdict), without the times that change on every write;
//  - labels, annotations, owner references, uid, spec: kept (intent.ts and the owner checks need them),
//    but for a ReplicaSet (read, never written): only the model version its pod template was made
//    for, and its replica counts.
// A pass runs for a stack when its generation (spec) or deletion changed, not for its status (the
// operator's own writes included); for a child only when what is kept of it changed.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { MODEL_VERSION_ANNOTATION } from '../builders/model-version.ts';

type Obj = Record<string, unknown>;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Plain JSON: list items are class instances with Dates and undefined fields, and are copied;
 * a watch event's object is plain JSON already, owned by nobody else, and is trimmed in place.
 */
function plain<T>(o: T): T {
  if (isObj(o) && Object.getPrototypeOf(o) === Object.prototype) return o;
  return JSON.parse(JSON.stringify(o)) as T;
}

function leanMetadata(o: Obj): void {
  const m = o.metadata;
  if (!isObj(m)) return;
  delete m.managedFields;
  delete m.creationTimestamp;
  delete m.selfLink;
  if (isObj(m.annotations)) {
    delete m.annotations[LAST_APPLIED];
    if (Object.keys(m.annotations).length === 0) delete m.annotations;
  }
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

const leanConditions = (cs: unknown, types?: readonly string[]): Condition[] | undefined =>
  Array.isArray(cs)
    ? (cs as Condition[])
        .filter((c) => !types || types.includes(c.type ?? ''))
        .map((c) => ({
          type: c.type,
          status: c.status,
          reason: c.reason,
          message: c.message,
          observedGeneration: c.observedGeneration,
        }))
    : undefined;

function leanStatus(kind: string, status: unknown): Obj | undefined {
  if (!isObj(status)) return undefined;
  switch (kind) {
    case 'Deployment':
      return {
        replicas: status.replicas,
        readyReplicas: status.readyReplicas,
        conditions: leanConditions(status.conditions, ['Available', 'Progressing'])?.map((c) =>
          // A progressing message changes with every rollout; it is only shown while it fails.
          c.type === 'Progressing' && c.status !== 'False' ? { ...c, message: undefined } : c,
        ),
      };
    case 'ReplicaSet':
      return { replicas: status.replicas, readyReplicas: status.readyReplicas };
    case 'HTTPRoute':
      return {
        parents: Array.isArray(status.parents)
          ? (status.parents as Obj[]).map((p) => ({
              parentRef: p.parentRef,
              controllerName: p.controllerName,
              conditions: leanConditions(p.conditions),
            }))
          : undefined,
      };
    default:
      return undefined;
  }
}

/** Of a ReplicaSet's pod template, the model version annotation alone. */
function leanReplicaSetSpec(spec: unknown): Obj {
  const annotations =
    isObj(spec) && isObj(spec.template) && isObj(spec.template.metadata)
      ? spec.template.metadata.annotations
      : undefined;
  const version = isObj(annotations) ? annotations[MODEL_VERSION_ANNOTATION] : undefined;
  return {
    template: {
      metadata: typeof version === 'string' ? { annotations: { [MODEL_VERSION_ANNOTATION]: version } } : {},
    },
  };
}

/** A child as the cache keeps it. */
export function leanChild<T extends KubernetesObject>(kind: string): (o: T) => T {
  return (o) => {
    const c = plain(o) as unknown as Obj;
    leanMetadata(c);
    if (kind === 'ReplicaSet') c.spec = leanReplicaSetSpec(c.spec);
    const status = leanStatus(kind, c.status);
    if (status) c.status = JSON.parse(JSON.stringify(status)) as Obj;
    else delete c.status;
    return c as unknown as T;
  };
}

/** A stack as the cache keeps it (its spec and status whole). */
export function leanStack<T extends KubernetesObject>(o: T): T {
  const c = plain(o) as unknown as Obj;
  leanMetadata(c);
  return c as unknown as T;
}

/** JSON with object keys sorted. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What of a kept child a pass can depend on: all of it but its resourceVersion and generation. */
export function childSignature(o: KubernetesObject): string {
  const { resourceVersion: _rv, generation: _g, ...metadata } = o.metadata ?? {};
  return createHash('sha1')
    .update(canonical({ ...o, metadata }))
    .digest('base64');
}

/** What of a stack starts a pass: its spec (generation), its identity and its deletion. */
export function stackSignature(o: KubernetesObject): string {
  const m = o.metadata ?? {};
  return `${m.uid ?? ''}/${m.generation ?? ''}/${m.deletionTimestamp ? 'deleting' : ''}`;
}
