import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Lease,
  type V1Node,
  type V1NodeStatus,
  type V1Pod,
  type V1PodStatus,
} from '@kubernetes/client-node';
import type { VolumeSources } from './volumes.ts';

const isCode = (err: unknown, code: number) => err instanceof ApiException && err.code === code;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Every API call the agent makes, in one thin layer over client-node. */
export class AgentApi implements VolumeSources {
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  /** Status via the status subresource; a merge patch replaces the lists (conditions, statuses) whole. */
  async patchPodStatus(pod: V1Pod, status: V1PodStatus): Promise<void> {
    const { name = '', namespace = '' } = pod.metadata ?? {};
    try {
      await this.core.patchNamespacedPodStatus({ name, namespace, body: { status } }, merge);
    } catch (err) {
      if (!isCode(err, 404)) throw err;
    }
  }

  /** The final delete once the containers are gone; the uid precondition spares a same-named successor. */
  async deletePodNow(pod: V1Pod): Promise<void> {
    const { name = '', namespace = '', uid } = pod.metadata ?? {};
    try {
      await this.core.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, ...(uid && { preconditions: { uid } }) },
      });
    } catch (err) {
      if (!isCode(err, 404) && !isCode(err, 409)) throw err;
    }
  }

  async configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
    try {
      const cm = await this.core.readNamespacedConfigMap({ name, namespace });
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(v);
      for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
      return out;
    } catch (err) {
      if (isCode(err, 404)) return undefined;
      throw err;
    }
  }

  async secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
    try {
      const s = await this.core.readNamespacedSecret({ name, namespace });
      const out: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64');
      return out;
    } catch (err) {
      if (isCode(err, 404)) return undefined;
      throw err;
    }
  }

  async token(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string> {
    const { name = '', namespace = '', uid } = pod.metadata ?? {};
    const res = await this.core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace,
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, ...(uid && { uid }) },
        },
      },
    });
    return res.status?.token ?? '';
  }

  /** Creates the Node, or takes over an existing one of the same name. */
  async upsertNode(node: V1Node): Promise<V1Node> {
    const name = node.metadata?.name ?? '';
    try {
      return await this.core.createNode({ body: node });
    } catch (err) {
      if (!isCode(err, 409)) throw err;
      return await this.core.patchNode(
        { name, body: { metadata: { labels: node.metadata?.labels } } },
        merge,
      );
    }
  }

  async patchNodeStatus(name: string, status: V1NodeStatus): Promise<void> {
    await this.core.patchNodeStatus({ name, body: { status } }, merge);
  }

  /** Renews (or first creates) the node's Lease in kube-node-lease, the kubelet's heartbeat. */
  async renewLease(lease: V1Lease): Promise<void> {
    const name = lease.metadata?.name ?? '';
    const namespace = lease.metadata?.namespace ?? '';
    try {
      await this.coordination.patchNamespacedLease({ name, namespace, body: { spec: lease.spec } }, merge);
    } catch (err) {
      if (!isCode(err, 404)) throw err;
      await this.coordination.createNamespacedLease({ namespace, body: lease });
    }
  }
}

export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // the body was not JSON; keep it verbatim
    }
    return `HTTP ${err.code}: ${message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
