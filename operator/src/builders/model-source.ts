// How the model reaches the pod, by URI scheme, as KServe users expect: a claim mounted read-only,
// an init container that fetches into an emptyDir, an image volume, or a path inside the image.
import type { V1Container, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ModelSpecDefaulted } from '../api/servingstack.ts';
import { canonicalQuantity, quantityValue } from './quantity.ts';

export const MODEL_MOUNT = '/mnt/models';
const VOLUME = 'model';

export interface ModelSource {
  /** MODEL_DIR for the server. */
  modelDir: string;
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  /** Args of an init container running the server image's fetch entrypoint, when one is needed. */
  fetchArgs?: string[];
}

/**
 * What the fetch init container may use: it streams to disk, so memory stays small whatever the
 * model's size; the request keeps it schedulable beside the server's own request.
 */
export const fetchResources = () => ({
  requests: { cpu: '100m', memory: '64Mi' },
  limits: { memory: '256Mi' },
});

/** `precision` is the pool's: the init container fetches only the file that pool loads. */
export function modelSource(model: ModelSpecDefaulted, precision: string): ModelSource {
  const m = /^([a-z0-9]+):\/\/(.*)$/.exec(model.uri);
  const scheme = m?.[1];
  const rest = m?.[2] ?? '';
  switch (scheme) {
    case 'pvc': {
      const slash = rest.indexOf('/');
      const claimName = slash < 0 ? rest : rest.slice(0, slash);
      const sub = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
      return {
        modelDir: sub ? `${MODEL_MOUNT}/${sub}` : MODEL_MOUNT,
        volumes: [{ name: VOLUME, persistentVolumeClaim: { claimName, readOnly: true } }],
        mounts: [{ name: VOLUME, mountPath: MODEL_MOUNT, readOnly: true }],
      };
    }
    case 'https':
    case 's3': {
      let maxBytes: bigint;
      let sizeLimit: string;
      try {
        maxBytes = quantityValue(model.maxSize);
        sizeLimit = canonicalQuantity(model.maxSize);
      } catch {
        throw new InvalidSpecError(`spec.model.maxSize is not a quantity: ${JSON.stringify(model.maxSize)}`);
      }
      const args = ['fetch-model', '--uri', model.uri, '--dest', MODEL_MOUNT, '--precision', precision];
      args.push('--max-bytes', String(maxBytes));
      if (model.sha256) args.push('--sha256', model.sha256);
      // Sorted, so the same manifest always makes the same pod template.
      for (const [file, digest] of Object.entries(model.digests ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))
        args.push('--digest', `${file}=${digest}`);
      return {
        modelDir: MODEL_MOUNT,
        // The cap and the volume's limit agree: the fetch stops with a clear error before the kubelet evicts.
        volumes: [{ name: VOLUME, emptyDir: { sizeLimit } }],
        mounts: [{ name: VOLUME, mountPath: MODEL_MOUNT, readOnly: true }],
        fetchArgs: args,
      };
    }
    case 'oci':
      return {
        modelDir: MODEL_MOUNT,
        volumes: [{ name: VOLUME, image: { reference: rest, pullPolicy: 'IfNotPresent' } }],
        mounts: [{ name: VOLUME, mountPath: MODEL_MOUNT, readOnly: true }],
      };
    case 'file':
      return { modelDir: rest, volumes: [], mounts: [] };
    default:
      // The CRD's CEL rule rejects other schemes; reaching here means the schema was bypassed.
      throw new InvalidSpecError(`spec.model.uri has an unsupported scheme: ${model.uri}`);
  }
}

/** A spec the API server accepted but the operator cannot build: reported, never retried hot. */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';
}

export function fetchContainer(image: string, args: string[], model: ModelSpecDefaulted): V1Container {
  const c: V1Container = {
    name: 'fetch-model',
    image,
    args,
    resources: fetchResources(),
    env: [{ name: 'ORT_DISABLE_TELEMETRY', value: '1' }],
    volumeMounts: [
      { name: VOLUME, mountPath: MODEL_MOUNT },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  if (model.credentialsSecretName) c.envFrom = [{ secretRef: { name: model.credentialsSecretName } }];
  return c;
}
