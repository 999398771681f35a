import type {
  V1Container,
  V1EnvVar,
  V1ObjectFieldSelector,
  V1Pod,
  V1ResourceFieldSelector,
} from '@kubernetes/client-node';
import { parseQuantity } from './quantity.ts';

/** A pod's spec asks for something this node cannot give it (the kubelet's CreateContainerConfigError). */
export class PodConfigError extends Error {}

/** What env resolution may read: the pod's addresses and the ConfigMaps/Secrets it names. */
export interface EnvSources {
  podIP: string;
  hostIP: string;
  configMaps: ReadonlyMap<string, Record<string, string> | undefined>;
  secrets: ReadonlyMap<string, Record<string, string> | undefined>;
  /** Node allocatable, what a resourceFieldRef without a limit reports. */
  allocatable: Record<string, string>;
}

/** ConfigMaps and Secrets the containers' env and envFrom read, to fetch before resolving. */
export function envReferences(containers: readonly V1Container[]): {
  configMaps: Set<string>;
  secrets: Set<string>;
} {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const c of containers) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name ?? '');
      if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name ?? '');
    }
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) configMaps.add(from.configMapRef.name ?? '');
      if (from.secretRef) secrets.add(from.secretRef.name ?? '');
    }
  }
  return { configMaps, secrets };
}

/**
 * The container's environment in Kubernetes order: `base` (what the kubelet injects), then
 * envFrom, then env, a later name replacing an earlier one; `$(NAME)` in an env value expands
 * to a variable defined before it.
 */
export function resolveEnv(
  pod: V1Pod,
  container: V1Container,
  sources: EnvSources,
  base: Record<string, string> = {},
): Map<string, string> {
  const env = new Map<string, string>(Object.entries(base));
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const data = (from.configMapRef ? sources.configMaps : sources.secrets).get(ref?.name ?? '');
    if (data === undefined) {
      if (ref?.optional) continue;
      throw new PodConfigError(
        `container ${container.name}: envFrom ${kind} ${JSON.stringify(ref?.name)} not found`,
      );
    }
    for (const [k, v] of Object.entries(data)) env.set(prefix + k, v);
  }
  for (const e of container.env ?? []) {
    const value = envValue(pod, container, e, sources, env);
    if (value !== undefined) env.set(e.name, value);
  }
  return env;
}

function envValue(
  pod: V1Pod,
  container: V1Container,
  e: V1EnvVar,
  sources: EnvSources,
  sofar: ReadonlyMap<string, string>,
): string | undefined {
  const from = e.valueFrom;
  if (!from) return expandReferences(e.value ?? '', sofar);
  const where = `container ${container.name}: env ${e.name}`;
  if (from.fieldRef) return fieldValue(pod, from.fieldRef, sources, where);
  if (from.resourceFieldRef) return resourceValue(pod, container, from.resourceFieldRef, sources, where);
  const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
  if (keyRef) {
    const kind = from.configMapKeyRef ? 'ConfigMap' : 'Secret';
    const data = (from.configMapKeyRef ? sources.configMaps : sources.secrets).get(keyRef.name ?? '');
    const value = data?.[keyRef.key];
    if (value === undefined && !keyRef.optional) {
      throw new PodConfigError(
        `${where}: ${kind} ${JSON.stringify(keyRef.name)} has no key ${JSON.stringify(keyRef.key)}`,
      );
    }
    return value;
  }
  throw new PodConfigError(`${where}: this node agent does not support its valueFrom`);
}

/** A downward-API field of the pod, for env vars and downwardAPI volume files. */
export function fieldValue(
  pod: V1Pod,
  ref: V1ObjectFieldSelector,
  sources: Pick<EnvSources, 'podIP' | 'hostIP'>,
  where: string,
): string {
  const path = ref.fieldPath;
  const meta = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (mapKey) return (mapKey[1] === 'labels' ? meta.labels : meta.annotations)?.[mapKey[2] ?? ''] ?? '';
  const whole = /^metadata\.(labels|annotations)$/.exec(path);
  if (whole) {
    const map = (whole[1] === 'labels' ? meta.labels : meta.annotations) ?? {};
    return Object.entries(map)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n');
  }
  const fields: Record<string, string | undefined> = {
    'metadata.name': meta.name,
    'metadata.namespace': meta.namespace,
    'metadata.uid': meta.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': sources.podIP,
    'status.podIPs': sources.podIP,
    'status.hostIP': sources.hostIP,
    'status.hostIPs': sources.hostIP,
  };
  if (!(path in fields))
    throw new PodConfigError(`${where}: fieldRef ${JSON.stringify(path)} is not supported`);
  return fields[path] ?? '';
}

function resourceValue(
  pod: V1Pod,
  container: V1Container,
  ref: V1ResourceFieldSelector,
  sources: EnvSources,
  where: string,
): string {
  const target = ref.containerName
    ? (pod.spec?.containers ?? []).find((c) => c.name === ref.containerName)
    : container;
  const match = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(ref.resource);
  if (!target || !match)
    throw new PodConfigError(`${where}: resourceFieldRef ${JSON.stringify(ref.resource)} is not supported`);
  const [, kind = '', name = ''] = match;
  const declared = (kind === 'limits' ? target.resources?.limits : target.resources?.requests)?.[name];
  // Like the kubelet: an unset limit reports the node's allocatable, an unset request zero.
  const quantity = declared ?? (kind === 'limits' ? sources.allocatable[name] : '0') ?? '0';
  const divisor = parseQuantity(ref.divisor ?? '1');
  return String(Math.ceil(parseQuantity(quantity) / divisor));
}

/** Kubernetes' `$(NAME)` expansion: known names expand, `$$` escapes, anything else stays verbatim. */
export function expandReferences(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && env.has(name) ? (env.get(name) ?? '') : whole;
  });
}
