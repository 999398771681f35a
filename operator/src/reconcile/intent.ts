// Change detection for children: is what the operator would apply now already in effect?
// Two checks, because each misses what the other sees:
// - the digest of the last applied intent, kept as an annotation on the child: any change of
//   intent changes it, a removed field included (a removal is invisible to "does the live object
//   hold everything I want?", so an apply that would drop the field is never sent otherwise);
// - every field the intent sets still has that value live: drift by someone else on a field the
//   operator owns is put back, while fields others add (defaults, status, their own annotations)
//   are not the operator's business and cost no write.
// Neither reads managedFields, so informer caches can drop them.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';

export const INTENT_ANNOTATION = 'servingstack.dev/intent';

/** JSON with object keys sorted, so equal intents give equal digests. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function intentDigest(desired: KubernetesObject): string {
  return createHash('sha256').update(canonicalJson(desired)).digest('hex').slice(0, 32);
}

/** The object to apply: `desired` with the digest of itself as an annotation. */
export function withIntent<T extends KubernetesObject>(desired: T): T {
  const digest = intentDigest(desired);
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...desired.metadata?.annotations, [INTENT_ANNOTATION]: digest },
    },
  };
}

/** Whether applying `intent` (from withIntent) would change nothing the operator owns on `live`. */
export function inEffect(intent: KubernetesObject, live: KubernetesObject): boolean {
  const digest = intent.metadata?.annotations?.[INTENT_ANNOTATION];
  if (digest === undefined || live.metadata?.annotations?.[INTENT_ANNOTATION] !== digest) return false;
  // List responses leave apiVersion and kind out of their items: compare the rest.
  return holds({ ...intent, apiVersion: undefined, kind: undefined }, live);
}

function timeString(v: unknown): unknown {
  return v instanceof Date ? v.toISOString() : v;
}

const named = (items: unknown[]): items is { name: string }[] =>
  items.length > 0 &&
  items.every(
    (x) => typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string',
  );

/**
 * The lists of the operator's children that the API server merges item by item (listType map), so
 * others may add their own items: a pod's containers, env, ports, volumes and mounts, owner
 * references. Any other list is atomic (tolerations; an HTTPRoute's parentRefs and rules, down to
 * the headers inside them, as the Gateway API CRDs declare): the operator owns it whole, and an
 * item someone adds is drift to put back.
 */
const MERGED_LISTS: ReadonlySet<string> = new Set([
  'containers',
  'initContainers',
  'env',
  'ports',
  'volumes',
  'volumeMounts',
  'ownerReferences',
]);

/**
 * Whether `live` holds every value `desired` sets. Lists the server merges by item whose items all
 * have a name (containers, env, ports, volumes) are matched by name, so an item someone else adds
 * does not count; other lists must match item by item, length included.
 */
export function holds(desired: unknown, live: unknown, field?: string): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return false;
    if (field !== undefined && MERGED_LISTS.has(field) && named(desired)) {
      return desired.every((d) =>
        holds(
          d,
          live.find((l) => (l as { name?: unknown } | null)?.name === d.name),
        ),
      );
    }
    return live.length === desired.length && desired.every((d, i) => holds(d, live[i]));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    const l = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => holds(v, l[k], k));
  }
  return desired === timeString(live);
}
