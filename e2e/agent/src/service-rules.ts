import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

// What the node's service proxy (service-proxy.ts) serves, from Services and EndpointSlices as
// kube-proxy reads them: one listener per TCP port of each Service with a ClusterIP, forwarding to
// the ready endpoints of that port; and the names pods resolve to those ClusterIPs. Pure.

export interface Backend {
  ip: string;
  port: number;
}

export interface Listener {
  /** `<clusterIP>:<port>`: what the proxy listens on. */
  key: string;
  /** `<namespace>/<name>:<port name>`, for the log. */
  service: string;
  clusterIP: string;
  port: number;
  backends: Backend[];
}

// The API server's own Service: the agent's relay (kube-forward.ts) serves it under its name.
const SKIPPED = new Set(['default/kubernetes']);
const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;

function clusterIPOf(svc: V1Service): string | undefined {
  const ip = svc.spec?.clusterIP;
  const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
  if (svc.spec?.type === 'ExternalName' || !ip || !IPV4.test(ip) || SKIPPED.has(key)) return undefined;
  return ip;
}

/** Listeners for every Service port, with the ready endpoints of that port (possibly none). */
export function serviceListeners(
  services: readonly V1Service[],
  slices: readonly V1EndpointSlice[],
): Listener[] {
  const out: Listener[] = [];
  for (const svc of services) {
    const clusterIP = clusterIPOf(svc);
    if (!clusterIP) continue;
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    const own = slices.filter(
      (s) =>
        s.metadata?.namespace === ns &&
        s.metadata?.labels?.['kubernetes.io/service-name'] === name &&
        s.addressType === 'IPv4',
    );
    for (const p of svc.spec?.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      const portName = p.name ?? '';
      const backends: Backend[] = [];
      for (const slice of own) {
        // An EndpointSlice port carries the Service port's name and the resolved target port.
        const target = (slice.ports ?? []).find(
          (sp) => (sp.name ?? '') === portName && sp.port !== undefined,
        );
        if (target?.port === undefined) continue;
        for (const ep of slice.endpoints ?? []) {
          // Like kube-proxy: an endpoint serves unless it says it is not ready (nil means ready).
          if (ep.conditions?.ready === false) continue;
          for (const ip of ep.addresses) backends.push({ ip, port: target.port });
        }
      }
      out.push({
        key: `${clusterIP}:${p.port}`,
        service: `${ns}/${name}:${portName || p.port}`,
        clusterIP,
        port: p.port,
        backends,
      });
    }
  }
  return out;
}

/**
 * The /etc/hosts entries a pod gets for Services, as cluster DNS would answer them:
 * `<name>.<namespace>.svc` and `<name>.<namespace>.svc.cluster.local` to the ClusterIP. A hosts
 * file has no search path, so the short forms `<name>` and `<name>.<namespace>` do not resolve.
 */
export function serviceHosts(services: readonly V1Service[]): Record<string, string> {
  const hosts: Record<string, string> = {};
  for (const svc of services) {
    const ip = clusterIPOf(svc);
    if (!ip) continue;
    const fqdn = `${svc.metadata?.name}.${svc.metadata?.namespace}.svc`;
    hosts[fqdn] = ip;
    hosts[`${fqdn}.cluster.local`] = ip;
  }
  return hosts;
}

const SECTION_BEGIN = '# servingstack services (node agent)';
const SECTION_END = '# end servingstack services';

/**
 * A pod's hosts file with its Services section replaced by `entries`, the rest (podman's own lines:
 * localhost, the pod's name) kept. Cluster DNS answers for Services created after a pod started
 * too, so the agent rewrites this section whenever the Services change, not only at creation.
 */
export function withServiceSection(hostsFile: string, entries: Record<string, string>): string {
  const lines = hostsFile.split('\n');
  const begin = lines.indexOf(SECTION_BEGIN);
  const end = lines.indexOf(SECTION_END, begin);
  const kept = begin >= 0 && end > begin ? [...lines.slice(0, begin), ...lines.slice(end + 1)] : lines;
  while (kept.length > 0 && kept.at(-1) === '') kept.pop();
  const section = Object.entries(entries)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, ip]) => `${ip}\t${host}`);
  return [...kept, SECTION_BEGIN, ...section, SECTION_END, ''].join('\n');
}
