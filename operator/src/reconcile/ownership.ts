// Whose object is it? The caches hold only the operator's children (a label selector), so a name
// missing from them is either free or taken by someone else. Instead of reading before every create,
// the operator applies without force and learns from the answer:
//  - 409: someone else owns fields with other values (an object made with kubectl create, say);
//  - 422: the intent is invalid on that object (it has another controller, or the apply would
//    change an immutable field such as a Deployment's selector), or invalid in itself (then the
//    read finds nothing and the refusal is reported as such);
//  - success, but managedFields show another manager that wrote its content (spec, data, ...):
//    someone else's object that already held exactly the operator's values. The apply added the
//    operator's labels, owner reference and annotation to it, so they are released again.
// Only then is the object read, to tell a ChildConflict from a child of this stack the caches do
// not show yet. The third case cannot be told by a read (the apply has just put the stack's owner
// reference on it): the reconciler remembers the uids of the stack's children from its last pass,
// so its own child that someone edited (kubectl rollout restart) is not given back.
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../builders/names.ts';
import { HANDOVER_MANAGER } from './replicas.ts';

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: Record<string, unknown>;
}

const OURS = new Set([FIELD_MANAGER, HANDOVER_MANAGER]);
/** What other controllers write on the operator's children without making them theirs. */
const NOT_CONTENT = new Set(['f:metadata', 'f:status']);

/** A field manager other than the operator's that wrote the object's content, if any. */
export function foreignWriter(o: KubernetesObject): string | undefined {
  const entries = (o.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
  const e = entries.find(
    (m) =>
      !m.subresource &&
      !OURS.has(m.manager ?? '') &&
      Object.keys(m.fieldsV1 ?? {}).some((k) => k !== '.' && !NOT_CONTENT.has(k)),
  );
  return e ? (e.manager ?? 'unknown') : undefined;
}

/** What to apply to give back every field the operator's manager took on someone else's object. */
export function released(o: KubernetesObject): KubernetesObject {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace },
  };
}
