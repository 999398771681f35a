// Handing a Deployment's spec.replicas from the operator to an HPA without the count moving, as
// the server-side apply documentation describes it ("Transferring ownership"): an apply that
// simply leaves replicas out would release the field, and a field nobody owns falls back to its
// default of 1 until the HPA writes it again (minutes, for GPU pods). So first a second field
// manager takes replicas at the current count; the operator's own apply then lets go of it while
// the count stays; the HPA takes it over when it first changes the count, and the second manager,
// left with nothing, disappears. A conflict on that first apply means the HPA already owns it.
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { REPLICAS_ANNOTATION } from '../builders/deployment.ts';
import { INTENT_ANNOTATION } from './intent.ts';

export const HANDOVER_MANAGER = 'servingstack-operator-handover';

/** Whether `intent` is a Deployment that leaves replicas to someone else (an HPA). */
export function leavesReplicasOut(intent: KubernetesObject): boolean {
  return intent.kind === 'Deployment' && (intent as V1Deployment).spec?.replicas === undefined;
}

/**
 * Whether applying `intent` would let go of replicas the operator set: the intent leaves them out
 * while the live Deployment says the operator set them (or predates the marker, so may have).
 */
export function releasesReplicas(intent: KubernetesObject, live: KubernetesObject): boolean {
  if (!leavesReplicasOut(intent)) return false;
  const annotations = live.metadata?.annotations ?? {};
  return REPLICAS_ANNOTATION in annotations || !(INTENT_ANNOTATION in annotations);
}

/** The apply that holds the current count under HANDOVER_MANAGER while the operator lets go. */
export function holdReplicas(intent: KubernetesObject, live: KubernetesObject): V1Deployment {
  return {
    apiVersion: intent.apiVersion,
    kind: intent.kind,
    metadata: { name: intent.metadata?.name, namespace: intent.metadata?.namespace },
    spec: { replicas: (live as V1Deployment).spec?.replicas } as V1Deployment['spec'],
  };
}
