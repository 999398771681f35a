import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { PodConfigError, fieldValue } from './env.ts';
import type { Mount } from './run-args.ts';

/** Reads what volumes project into files; the thin API layer implements it. */
export interface VolumeSources {
  configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  /** A bound service-account token for the pod (TokenRequest API). */
  token(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
}

export interface PreparedVolume {
  hostPath: string;
  /** Projected content (configMap, secret, token, downward API) is always mounted read-only. */
  readOnly: boolean;
}

/**
 * Materialises the pod's volumes as host directories under `podDir`: an emptyDir is a
 * world-writable directory (as the kubelet makes it), projected kinds are files written once.
 */
export async function prepareVolumes(
  pod: V1Pod,
  podDir: string,
  sources: VolumeSources,
  addresses: { podIP: string; hostIP: string },
): Promise<Map<string, PreparedVolume>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const prepared = new Map<string, PreparedVolume>();
  for (const v of pod.spec?.volumes ?? []) {
    const dir = join(podDir, 'volumes', v.name);
    if (v.hostPath) {
      prepared.set(v.name, { hostPath: v.hostPath.path, readOnly: false });
      continue;
    }
    await mkdir(dir, { recursive: true });
    if (v.emptyDir) {
      await chmod(dir, 0o777);
      prepared.set(v.name, { hostPath: dir, readOnly: false });
      continue;
    }
    const files = await volumeFiles(pod, ns, v, sources, addresses);
    for (const [path, { data, mode }] of files) {
      const target = join(dir, safeRelative(path, v.name));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, data, { mode });
      await chmod(target, mode);
    }
    prepared.set(v.name, { hostPath: dir, readOnly: true });
  }
  return prepared;
}

type Files = Map<string, { data: Buffer; mode: number }>;

async function volumeFiles(
  pod: V1Pod,
  ns: string,
  v: V1Volume,
  sources: VolumeSources,
  addresses: { podIP: string; hostIP: string },
): Promise<Files> {
  const files: Files = new Map();
  const add = (
    kind: string,
    name: string,
    data: Record<string, Buffer> | undefined,
    items: V1KeyToPath[] | undefined,
    optional: boolean | undefined,
    mode: number,
  ) => {
    if (data === undefined) {
      if (optional) return;
      throw new PodConfigError(`volume ${v.name}: ${kind} ${JSON.stringify(name)} not found`);
    }
    const wanted: V1KeyToPath[] = items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of wanted) {
      const value = data[item.key];
      if (value === undefined)
        throw new PodConfigError(`volume ${v.name}: ${kind} ${name} has no key ${item.key}`);
      files.set(item.path, { data: value, mode: item.mode ?? mode });
    }
  };
  const downward = (
    items: { path: string; fieldRef?: { fieldPath: string } }[] | undefined,
    mode: number,
  ) => {
    for (const item of items ?? []) {
      if (!item.fieldRef)
        throw new PodConfigError(`volume ${v.name}: only fieldRef downward API items are supported`);
      const value = fieldValue(pod, item.fieldRef, addresses, `volume ${v.name}`);
      files.set(item.path, { data: Buffer.from(value), mode });
    }
  };
  if (v.configMap) {
    const name = v.configMap.name ?? '';
    const mode = v.configMap.defaultMode ?? 0o644;
    add('ConfigMap', name, await sources.configMap(ns, name), v.configMap.items, v.configMap.optional, mode);
  } else if (v.secret) {
    const name = v.secret.secretName ?? '';
    const mode = v.secret.defaultMode ?? 0o644;
    add('Secret', name, await sources.secret(ns, name), v.secret.items, v.secret.optional, mode);
  } else if (v.downwardAPI) {
    downward(v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644);
  } else if (v.projected) {
    const mode = v.projected.defaultMode ?? 0o644;
    for (const s of v.projected.sources ?? []) {
      if (s.configMap) {
        const name = s.configMap.name ?? '';
        add(
          'ConfigMap',
          name,
          await sources.configMap(ns, name),
          s.configMap.items,
          s.configMap.optional,
          mode,
        );
      } else if (s.secret) {
        const name = s.secret.name ?? '';
        add('Secret', name, await sources.secret(ns, name), s.secret.items, s.secret.optional, mode);
      } else if (s.downwardAPI) {
        downward(s.downwardAPI.items, mode);
      } else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const token = await sources.token(pod, t.audience, t.expirationSeconds ?? 3600);
        files.set(t.path, { data: Buffer.from(token), mode });
      } else {
        throw new PodConfigError(
          `volume ${v.name}: a projected source kind this node agent does not support`,
        );
      }
    }
  } else {
    const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
    throw new PodConfigError(`volume ${v.name}: ${kind} volumes are not supported by the test node agent`);
  }
  return files;
}

/** Mounts for one container, from its volumeMounts and the prepared volumes (subPath included). */
export function mountsFor(container: V1Container, volumes: ReadonlyMap<string, PreparedVolume>): Mount[] {
  return (container.volumeMounts ?? []).map((m) => {
    const v = volumes.get(m.name);
    if (!v)
      throw new PodConfigError(
        `container ${container.name}: volumeMount ${m.name} names no volume of the pod`,
      );
    const hostPath = m.subPath ? join(v.hostPath, safeRelative(m.subPath, m.name)) : v.hostPath;
    return { hostPath, containerPath: m.mountPath, readOnly: v.readOnly || m.readOnly === true };
  });
}

function safeRelative(path: string, where: string): string {
  const clean = normalize(path);
  if (clean.startsWith('..') || clean.startsWith('/')) {
    throw new PodConfigError(`${where}: path ${JSON.stringify(path)} leaves the volume`);
  }
  return clean;
}
