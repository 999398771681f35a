// The ServingStack object as the operator sees it, and its defaulting. The shapes come from the
// CRD (types.generated.ts); defaulting walks the CRD's own schema, so it cannot disagree with
// what the API server stores.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { applyDefaults } from './schema.ts';
import {
  GROUP,
  KIND,
  SPEC_SCHEMA,
  VERSION,
  type PoolSpecDefaulted,
  type ServingStackSpec,
  type ServingStackSpecDefaulted,
  type ServingStackStatus,
} from './types.generated.ts';

export * from './types.generated.ts';

export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ServingStack {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: ServingStackSpec;
  status?: ServingStackStatus;
}

export const POOLS = ['throughput', 'latency'] as const;
export type Pool = (typeof POOLS)[number];

/** A stack whose spec has had every schema default applied; what every builder takes. */
export interface DefaultedStack {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  spec: ServingStackSpecDefaulted;
}

export function withDefaults(stack: ServingStack): DefaultedStack {
  const { name, namespace, uid, generation } = stack.metadata;
  if (!name || !namespace || !uid) {
    throw new Error('a ServingStack needs metadata.name, metadata.namespace and metadata.uid');
  }
  return {
    name,
    namespace,
    uid,
    generation: generation ?? 0,
    // The cast is what gen-types guarantees: the *Defaulted types are derived from this schema.
    spec: applyDefaults(SPEC_SCHEMA, stack.spec) as ServingStackSpecDefaulted,
  };
}

export function poolSpec(stack: DefaultedStack, pool: Pool): PoolSpecDefaulted {
  return stack.spec[pool];
}

export function isServingStackKind(apiVersion: string | undefined, kind: string | undefined): boolean {
  return apiVersion === API_VERSION && kind === KIND;
}
