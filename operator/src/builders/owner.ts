// The one place a child gets its controller owner reference: garbage collection of children when
// the stack goes, and the ownership check before the operator touches an existing object.
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type DefaultedStack } from '../api/servingstack.ts';

export function ownerReference(stack: DefaultedStack): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: stack.name,
    uid: stack.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The uid of the ServingStack that controls `meta`, if any. */
export function controllerStackUid(meta: V1ObjectMeta | undefined): string | undefined {
  const ref = meta?.ownerReferences?.find((r) => r.controller === true);
  return ref && ref.apiVersion === API_VERSION && ref.kind === KIND ? ref.uid : undefined;
}

/** The controller owner of `meta` when it is a ServingStack: its name, for enqueueing. */
export function controllerStackName(meta: V1ObjectMeta | undefined): string | undefined {
  const ref = meta?.ownerReferences?.find((r) => r.controller === true);
  return ref && ref.apiVersion === API_VERSION && ref.kind === KIND ? ref.name : undefined;
}
