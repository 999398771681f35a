// The operator's writes to the API server, in one thin layer: server-side apply under one field
// manager, delete with a uid precondition, status through the status subresource. Every call is
// counted, so the benchmark can show a no-op resync writes nothing.
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type ServingStackStatus } from '../api/servingstack.ts';
import { FIELD_MANAGER } from '../builders/names.ts';

export interface ApiCallCounter {
  inc(labels: { verb: string; kind: string }): void;
}

export class KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly calls: ApiCallCounter;

  constructor(kc: KubeConfig, calls: ApiCallCounter) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.calls = calls;
  }

  async apply<T extends KubernetesObject>(desired: T): Promise<T> {
    this.calls.inc({ verb: 'apply', kind: desired.kind ?? '' });
    return this.objects.patch<T>(
      desired,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  async read(obj: KubernetesObject): Promise<KubernetesObject> {
    this.calls.inc({ verb: 'get', kind: obj.kind ?? '' });
    return this.objects.read({
      apiVersion: obj.apiVersion ?? '',
      kind: obj.kind ?? '',
      metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' },
    });
  }

  /** Deletes `obj` only if it is still the object with `uid`, so a re-created namesake survives. */
  async delete(obj: KubernetesObject, uid: string): Promise<void> {
    this.calls.inc({ verb: 'delete', kind: obj.kind ?? '' });
    await this.objects.delete(
      {
        apiVersion: obj.apiVersion ?? '',
        kind: obj.kind ?? '',
        metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' },
      },
      undefined,
      undefined,
      undefined,
      undefined,
      'Background',
      { preconditions: { uid } },
    );
  }

  async patchStatus(namespace: string, name: string, status: ServingStackStatus): Promise<void> {
    this.calls.inc({ verb: 'patch-status', kind: 'ServingStack' });
    // Without the header option the client sends application/json-patch+json, which the server
    // rejects for an object body (notes/client-node.md, pitfall 5).
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { status },
        fieldManager: FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}
