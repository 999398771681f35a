// The stack's status from what the operator observed this pass: pure, so it is tested directly.
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import {
  POOLS,
  type Condition,
  type DefaultedStack,
  type Pool,
  type ModelVersionReplicas,
  type PoolStatus,
  type ServingStackStatus,
} from '../api/servingstack.ts';
import { desiredModelVersion } from '../builders/model-version.ts';
import { stackUrl } from '../builders/routing-rules.ts';
import {
  CONDITION_LATENCY,
  CONDITION_MODEL_VERSION,
  CONDITION_READY,
  CONDITION_ROUTING,
  CONDITION_THROUGHPUT,
  setCondition,
  type Clock,
  type ConditionInput,
} from './conditions.ts';
import { modelVersionCondition, replicasByVersion, servedVersion } from './model-version.ts';

/** A failure the operator cannot fix by retrying: shown in Ready with its reason, not retried hot. */
export interface Blocker {
  reason: string;
  message: string;
}

export interface Observed {
  deployments: Partial<Record<Pool, V1Deployment>>;
  /** The ReplicaSets each pool's Deployment controls (one per pod template it has had). */
  replicaSets?: Partial<Record<Pool, readonly V1ReplicaSet[]>>;
  /**
   * switchStrategy Together, mid-switch: the ReplicaSets of the new set's Deployments, which no
   * Service selects yet. Counted in modelVersions (how far it is), never in what the pool serves.
   */
  startingReplicaSets?: Partial<Record<Pool, readonly V1ReplicaSet[]>>;
  /** switchStrategy Together: per pool, how far the new set is while the live one serves. */
  switchWaiting?: string[];
  /** Whether the routing objects were applied this pass. */
  routingApplied: boolean;
  unexpressedRules: string[];
  provider: string;
  /** Why a step could not be done, when one could not. */
  blocker?: Blocker;
  /** Why routing could not be applied (e.g. the provider's CRD is missing). */
  routingBlocker?: Blocker;
}

const POOL_CONDITION: Record<Pool, string> = { throughput: CONDITION_THROUGHPUT, latency: CONDITION_LATENCY };

function poolStatus(
  dep: V1Deployment | undefined,
  serving: ModelVersionReplicas[],
  versions: ModelVersionReplicas[],
): PoolStatus {
  const desired = dep?.spec?.replicas ?? 0;
  const ready = dep?.status?.readyReplicas ?? 0;
  const served = servedVersion(serving);
  return {
    replicas: dep?.status?.replicas ?? 0,
    readyReplicas: ready,
    desiredReplicas: desired,
    summary: `${ready}/${desired}`,
    ...(served ? { modelVersion: served } : {}),
    ...(versions.length > 0 ? { modelVersions: versions } : {}),
  };
}

function poolCondition(pool: Pool, dep: V1Deployment | undefined): ConditionInput {
  const type = POOL_CONDITION[pool];
  if (!dep) {
    return {
      type,
      status: 'False',
      reason: 'DeploymentMissing',
      message: `the ${pool} Deployment does not exist yet`,
    };
  }
  const name = dep.metadata?.name ?? pool;
  const desired = dep.spec?.replicas ?? 0;
  const ready = dep.status?.readyReplicas ?? 0;
  const available = dep.status?.conditions?.find((c) => c.type === 'Available');
  if (desired === 0) {
    return { type, status: 'False', reason: 'ScaledToZero', message: `Deployment ${name} has 0 replicas` };
  }
  if (ready > 0 && available?.status === 'True') {
    return {
      type,
      status: 'True',
      reason: 'MinimumReplicasAvailable',
      message: `Deployment ${name}: ${ready}/${desired} replicas ready`,
    };
  }
  const progressing = dep.status?.conditions?.find((c) => c.type === 'Progressing');
  const detail = progressing?.status === 'False' && progressing.message ? `; ${progressing.message}` : '';
  return {
    type,
    status: 'False',
    reason: 'ReplicasNotReady',
    message: `Deployment ${name}: ${ready}/${desired} replicas ready; pods are pending or not ready yet${detail}`,
  };
}

function routingCondition(o: Observed): ConditionInput {
  const type = CONDITION_ROUTING;
  if (o.routingBlocker) return { type, status: 'False', ...o.routingBlocker };
  if (!o.routingApplied) {
    return {
      type,
      status: 'False',
      reason: 'NotApplied',
      message: 'routing objects have not been applied yet',
    };
  }
  if (o.unexpressedRules.length > 0) {
    return {
      type,
      status: 'True',
      reason: 'PartiallyExpressed',
      message: `${o.provider} routes the host, but cannot express: ${o.unexpressedRules.join('; ')}`,
    };
  }
  return { type, status: 'True', reason: 'Applied', message: `${o.provider} routes every header rule` };
}

function readyCondition(parts: ConditionInput[], blocker: Blocker | undefined): ConditionInput {
  if (blocker) return { type: CONDITION_READY, status: 'False', ...blocker };
  const failing = parts.filter((c) => c.status !== 'True');
  const first = failing[0];
  if (!first) {
    return {
      type: CONDITION_READY,
      status: 'True',
      reason: 'AllPartsReady',
      message: 'both pools and routing are ready',
    };
  }
  return {
    type: CONDITION_READY,
    status: 'False',
    reason: first.reason,
    message: failing.map((c) => `${c.type}: ${c.message}`).join('; '),
  };
}

export function computeStatus(
  stack: DefaultedStack,
  previous: ServingStackStatus | undefined,
  o: Observed,
  now: Clock,
): ServingStackStatus {
  const parts = [...POOLS.map((p) => poolCondition(p, o.deployments[p])), routingCondition(o)];
  const desiredVersion = desiredModelVersion(stack.spec.model);
  const versions = {
    throughput: replicasByVersion(o.replicaSets?.throughput ?? []),
    latency: replicasByVersion(o.replicaSets?.latency ?? []),
  };
  const withStarting = (pool: Pool) =>
    o.startingReplicaSets?.[pool]?.length
      ? replicasByVersion([...(o.replicaSets?.[pool] ?? []), ...o.startingReplicaSets[pool]])
      : versions[pool];
  // Beside Ready, not a part of it: the stack serves while a switch is under way.
  const versionCondition: ConditionInput = o.switchWaiting
    ? {
        type: CONDITION_MODEL_VERSION,
        status: 'False',
        reason: 'SwitchPending',
        message:
          `switchStrategy Together: the live set serves every request until the new set (${desiredVersion ?? ''}) ` +
          `is ready in both pools: ${o.switchWaiting.join('; ')}`,
      }
    : modelVersionCondition(desiredVersion, versions);
  const all = [readyCondition(parts, o.blocker), ...parts, versionCondition];
  const conditions: Condition[] = all.map((c) =>
    setCondition(previous?.conditions, c, stack.generation, now),
  );
  const status: ServingStackStatus = {
    observedGeneration: stack.generation,
    conditions,
    ...(desiredVersion ? { desiredModelVersion: desiredVersion } : {}),
    throughput: poolStatus(o.deployments.throughput, versions.throughput, withStarting('throughput')),
    latency: poolStatus(o.deployments.latency, versions.latency, withStarting('latency')),
    url: stackUrl(stack),
    routing: {
      provider: o.provider,
      ...(o.unexpressedRules.length > 0 ? { unexpressedRules: o.unexpressedRules } : {}),
    },
  };
  return status;
}
