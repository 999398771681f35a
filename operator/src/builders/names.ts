// Names and labels of every child, from one place. Names are DNS-1035 labels (Services need that)
// of at most 63 characters; when a stack name does not fit, it is cut and a short hash keeps it unique.
import { createHash } from 'node:crypto';
import type { DefaultedStack, Pool } from '../api/servingstack.ts';

export const FIELD_MANAGER = 'servingstack-operator';
export const MANAGED_BY = 'servingstack-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_POOL = 'servingstack.dev/pool';
/**
 * On a pool's pods: the name of the pool's Service. Prometheus copies it into a `service` label,
 * which prometheus-adapter maps to the Service, so the pool's own p95 (all its pods' buckets
 * summed) is an Object metric on it.
 */
export const LABEL_SERVICE = 'servingstack.dev/service';
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
/**
 * On a set's Deployment, its pods and the selectors of both: the model version the set serves
 * (switchStrategy Together, builders/switch.ts). Absent on the one Deployment per pool of Rolling.
 */
export const LABEL_MODEL_SET = 'servingstack.dev/model-set';

const MAX = 63;

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** A DNS-1035 label of at most 63 characters built from `base` and `suffix`; stable for the same input. */
export function dnsLabel(base: string, suffix = ''): string {
  const tail = suffix ? `-${suffix}` : '';
  const clean = base.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const plain = `${clean}${tail}`;
  if (clean === base && plain.length <= MAX && /^[a-z]/.test(plain)) return plain;
  const hash = shortHash(`${base}${tail}`);
  const room = MAX - tail.length - hash.length - 1;
  const head = clean
    .slice(0, room)
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  return head ? `${head}-${hash}${tail}` : `s${hash}${tail}`;
}

/** A label value (≤ 63 chars, alphanumeric at both ends); the stack name when it fits. */
export function labelValue(s: string): string {
  if (s.length <= MAX && /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(s)) return s;
  const hash = shortHash(s);
  const head = s.slice(0, MAX - hash.length - 1).replace(/[^A-Za-z0-9]+$/, '');
  return head ? `${head}-${hash}` : hash;
}

export const childNames = {
  pool: (stack: DefaultedStack, pool: Pool): string => dnsLabel(stack.name, pool),
  /** A pool's Deployment of one set: `<stack>-<pool>-<set>`, or the pool's own name for Rolling's ''. */
  poolSet: (stack: DefaultedStack, pool: Pool, set: string): string =>
    set === '' ? dnsLabel(stack.name, pool) : dnsLabel(stack.name, `${pool}-${set}`),
  routing: (stack: DefaultedStack): string => dnsLabel(stack.name),
  canary: (stack: DefaultedStack): string => dnsLabel(stack.name, 'canary'),
};

export type Component = Pool | 'routing';

/** Labels every child of `stack` carries; the selector labels of a pool are a subset. */
export function labels(stack: DefaultedStack, component: Component): Record<string, string> {
  const l: Record<string, string> = {
    [LABEL_NAME]: 'servingstack',
    [LABEL_INSTANCE]: labelValue(stack.name),
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: component,
  };
  if (component !== 'routing') l[LABEL_POOL] = component;
  return l;
}

/** The immutable Deployment selector of a pool, also the Service selector. */
export function selectorLabels(stack: DefaultedStack, pool: Pool): Record<string, string> {
  return {
    [LABEL_NAME]: 'servingstack',
    [LABEL_INSTANCE]: labelValue(stack.name),
    [LABEL_POOL]: pool,
  };
}
