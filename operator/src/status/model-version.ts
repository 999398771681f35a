// Which model version each pool's replicas serve, from the pool Deployment's ReplicaSets: each
// holds the pods of one pod template, and the template carries the version it was made for
// (builders/model-version.ts). Pure: the reconciler hands it what the caches hold.
import type { V1ReplicaSet } from '@kubernetes/client-node';
import { POOLS, type ModelVersionReplicas, type Pool } from '../api/servingstack.ts';
import { MODEL_VERSION_ANNOTATION } from '../builders/model-version.ts';
import { CONDITION_MODEL_VERSION, type ConditionInput } from './conditions.ts';

/** Where a pod template carries no version: the spec pinned none, or an older operator made it. */
export const UNKNOWN_VERSION = 'unknown';

/**
 * Replicas per version, most ready first. A ReplicaSet with no replicas (an old template the
 * Deployment keeps for rollbacks) serves nothing and is left out.
 */
export function replicasByVersion(replicaSets: readonly V1ReplicaSet[]): ModelVersionReplicas[] {
  const by = new Map<string, ModelVersionReplicas>();
  for (const rs of replicaSets) {
    const replicas = rs.status?.replicas ?? 0;
    const readyReplicas = rs.status?.readyReplicas ?? 0;
    if (replicas === 0 && readyReplicas === 0) continue;
    const version = rs.spec?.template?.metadata?.annotations?.[MODEL_VERSION_ANNOTATION] ?? UNKNOWN_VERSION;
    const v = by.get(version) ?? { version, replicas: 0, readyReplicas: 0 };
    v.replicas += replicas;
    v.readyReplicas += readyReplicas;
    by.set(version, v);
  }
  return [...by.values()].sort(
    (a, b) =>
      b.readyReplicas - a.readyReplicas || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0),
  );
}

/** The one known version every ready replica serves; undefined for none ready, several, or unknown. */
export function servedVersion(versions: readonly ModelVersionReplicas[]): string | undefined {
  const ready = versions.filter((v) => v.readyReplicas > 0);
  return ready.length === 1 && ready[0]!.version !== UNKNOWN_VERSION ? ready[0]!.version : undefined;
}

/** `sha256:` and 12 hex digits: enough to tell versions apart in a message. */
const short = (version: string) => (version.startsWith('sha256:') ? `${version.slice(0, 19)}…` : version);

function describePool(pool: Pool, versions: readonly ModelVersionReplicas[], desired: string): string {
  const ready = versions.filter((v) => v.readyReplicas > 0);
  if (ready.length === 0) return `${pool}: no ready replica`;
  return `${pool}: ${ready
    .map((v) => `${v.readyReplicas} ready on ${short(v.version)}${v.version === desired ? ' (desired)' : ''}`)
    .join(', ')}`;
}

export function modelVersionCondition(
  desired: string | undefined,
  pools: Record<Pool, readonly ModelVersionReplicas[]>,
): ConditionInput {
  const type = CONDITION_MODEL_VERSION;
  if (desired === undefined) {
    return {
      type,
      status: 'Unknown',
      reason: 'NotPinned',
      message:
        'spec.model pins no digests, so only the servers know which version they loaded (X-Model-Version, ' +
        'servingstack_model_info); pin spec.model.digests to have it tracked here',
    };
  }
  const readyOn = (pool: Pool, other: boolean) =>
    pools[pool].filter((v) => (v.version === desired) !== other).reduce((n, v) => n + v.readyReplicas, 0);
  const detail = POOLS.map((p) => describePool(p, pools[p], desired)).join('; ');
  if (POOLS.some((p) => readyOn(p, true) > 0)) {
    return {
      type,
      status: 'False',
      reason: 'Switching',
      message: `ready replicas serve another version than the desired ${short(desired)}: ${detail}`,
    };
  }
  if (POOLS.some((p) => readyOn(p, false) === 0)) {
    return {
      type,
      status: 'False',
      reason: 'NotReady',
      message: `a pool has no ready replica on the desired ${short(desired)}: ${detail}`,
    };
  }
  return {
    type,
    status: 'True',
    reason: 'Consistent',
    message: `both pools serve ${short(desired)} on every ready replica: ${detail}`,
  };
}
