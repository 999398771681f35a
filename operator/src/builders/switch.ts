// switchStrategy Together: which set of Deployments the pools' Services select, which are built
// and which are kept, from what the caches hold. A set is one Deployment per pool for one model
// version (names.ts, LABEL_MODEL_SET). The live set is the one the Services select. A new desired
// set starts beside it, with the live set's replica counts, while the Services (and the HPAs) stay
// on the live set; once every pool's Deployment of the new set is ready, one pass moves both
// Services and the HPAs to it, and the old set is pruned after them. Setting spec.model back to
// the live version mid-switch makes the live set the desired one again: the new one is pruned and
// the Services never moved. Rolling is the set '' throughout, which is today's one Deployment per
// pool rolling on its own. Pure: the reconciler hands it the cached objects.
import type { V1Deployment } from '@kubernetes/client-node';
import { POOLS, type DefaultedStack, type Pool } from '../api/servingstack.ts';
import { desiredModelVersion, desiredSet, MODEL_VERSION_ANNOTATION } from './model-version.ts';

export interface SwitchObserved {
  /** The set the pools' Services select now; undefined before the Services exist. */
  liveSet: string | undefined;
  /** A pool's Deployment of a set, as cached. */
  deployment(pool: Pool, set: string): V1Deployment | undefined;
}

export interface SwitchPlan {
  /** The set the Services select and the HPAs scale once this pass is applied. */
  serve: string;
  /** The set whose Deployments this pass builds: the desired one. */
  build: string;
  /** The live set, kept as it is (neither applied nor pruned) while the desired one gets ready. */
  keep?: string;
  /** Replicas each pool of the desired set starts with while it is not live: the live set's. */
  startReplicas: Partial<Record<Pool, number>>;
  /** Per pool, while the desired set is not ready: how far it is (for the status). */
  waiting: string[];
}

/**
 * Whether a Deployment has rolled out (Progressing says its new ReplicaSet is available, as
 * `kubectl rollout status` reads it) and every replica it wants is ready. Read from what the
 * cache keeps of a Deployment (controller/lean.ts): its ready count and those two conditions.
 */
export function deploymentReady(d: V1Deployment | undefined): boolean {
  if (!d) return false;
  // A pool scaled to 0 is rolled out with 0 of 0 ready: it must not hold the other pool's switch.
  const want = d.spec?.replicas ?? 1;
  const condition = (type: string) => d.status?.conditions?.find((c) => c.type === type);
  return (
    (d.status?.readyReplicas ?? 0) >= want &&
    condition('Available')?.status === 'True' &&
    condition('Progressing')?.reason === 'NewReplicaSetAvailable'
  );
}

export function planSwitch(stack: DefaultedStack, o: SwitchObserved): SwitchPlan {
  const desired = desiredSet(stack.spec.model);
  const live = o.liveSet;
  const steady: SwitchPlan = { serve: desired, build: desired, startReplicas: {}, waiting: [] };
  // Nothing live to keep (its Deployments are gone): the desired set serves at once.
  if (live === undefined || live === desired || POOLS.every((p) => !o.deployment(p, live))) return steady;
  // Rolling's Services select every pod of the pool, a new set's too: no set can start beside
  // Rolling's Deployments without answering through them at once. So a move from Rolling to
  // Together that brings a new version rolls it out as Rolling did (the status shows the mix), and
  // the set of that version starts once both pools serve it.
  if (
    live === '' &&
    POOLS.some((p) => {
      const d = o.deployment(p, '');
      return (
        d !== undefined &&
        (d.spec?.template?.metadata?.annotations?.[MODEL_VERSION_ANNOTATION] !==
          desiredModelVersion(stack.spec.model) ||
          !deploymentReady(d))
      );
    })
  )
    return { serve: '', build: '', startReplicas: {}, waiting: [] };
  const notReady = POOLS.filter((p) => !deploymentReady(o.deployment(p, desired)));
  if (notReady.length === 0) return steady;
  const startReplicas: Partial<Record<Pool, number>> = {};
  for (const p of POOLS) {
    const replicas = o.deployment(p, live)?.spec?.replicas;
    if (replicas !== undefined) startReplicas[p] = replicas;
  }
  return {
    serve: live,
    build: desired,
    keep: live,
    startReplicas,
    waiting: notReady.map((p) => {
      const d = o.deployment(p, desired);
      const stalled = d?.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False');
      return `${p}: ${d?.status?.readyReplicas ?? 0}/${d?.spec?.replicas ?? startReplicas[p] ?? 1} ready${
        stalled?.message ? ` (${stalled.message})` : ''
      }`;
    }),
  };
}
