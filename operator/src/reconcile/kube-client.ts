// The operator's writes to the API server, in one thin layer: server-side apply, delete with a uid
// precondition, status through the status subresource (server-side apply too, so a field the
// operator stops setting goes away). Every call is counted (servingstack_operator_api_requests_total).
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type Configuration,
  type KubernetesObject,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  type ServingStack,
  type ServingStackStatus,
} from '../api/servingstack.ts';
import { FIELD_MANAGER } from '../builders/names.ts';

export interface ApiCallCounter {
  inc(labels: { verb: string; kind: string }): void;
}

export interface ApplyOptions {
  /** FIELD_MANAGER unless said otherwise. */
  manager?: string;
  /** Take fields other managers own (true unless said otherwise). */
  force?: boolean;
}

/** What the reconciler needs from the API server (tests use a fake). */
export interface Kube {
  apply<T extends KubernetesObject>(desired: T, opts?: ApplyOptions): Promise<T>;
  read(obj: KubernetesObject): Promise<KubernetesObject>;
  delete(obj: KubernetesObject, uid: string): Promise<void>;
  applyStatus(namespace: string, name: string, status: ServingStackStatus): Promise<ServingStack>;
  /** A JSON merge patch of the status: null removes a field whoever owns it. */
  patchStatus(namespace: string, name: string, patch: Record<string, unknown>): Promise<void>;
}

const ref = (obj: KubernetesObject) => ({
  apiVersion: obj.apiVersion ?? '',
  kind: obj.kind ?? '',
  metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' },
});

export class KubeClient implements Kube {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly calls: ApiCallCounter;

  constructor(config: Configuration, calls: ApiCallCounter) {
    this.objects = new KubernetesObjectApi(config);
    this.custom = new CustomObjectsApi(config);
    this.calls = calls;
  }

  async apply<T extends KubernetesObject>(desired: T, opts: ApplyOptions = {}): Promise<T> {
    this.calls.inc({ verb: 'apply', kind: desired.kind ?? '' });
    return this.objects.patch<T>(
      desired,
      undefined,
      undefined,
      opts.manager ?? FIELD_MANAGER,
      opts.force ?? true,
      PatchStrategy.ServerSideApply,
    );
  }

  async read(obj: KubernetesObject): Promise<KubernetesObject> {
    this.calls.inc({ verb: 'get', kind: obj.kind ?? '' });
    return this.objects.read(ref(obj));
  }

  async delete(obj: KubernetesObject, uid: string): Promise<void> {
    this.calls.inc({ verb: 'delete', kind: obj.kind ?? '' });
    await this.objects.delete(ref(obj), undefined, undefined, undefined, undefined, 'Background', {
      preconditions: { uid },
    });
  }

  async applyStatus(namespace: string, name: string, status: ServingStackStatus): Promise<ServingStack> {
    this.calls.inc({ verb: 'apply-status', kind: KIND });
    // Without the header option the client sends application/json-patch+json, which the server
    // rejects for an object body (notes/client-node.md, pitfall 5).
    return (await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as ServingStack;
  }

  async patchStatus(namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
    this.calls.inc({ verb: 'patch-status', kind: KIND });
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { status: patch },
        fieldManager: FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}
