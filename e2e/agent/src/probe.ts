import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export interface ProbeTarget {
  podIP: string;
  container: V1Container;
  /** Runs a command in the container; resolves with its exit status. */
  exec: (command: readonly string[], timeoutMs: number) => Promise<number>;
}

/**
 * Runs one probe once. Probes only reach the pod's own address: a httpGet/tcpSocket `host`
 * pointing anywhere else fails instead of sending traffic off the pod network.
 */
export async function runProbe(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  try {
    return await probeOnce(probe, target);
  } catch {
    return false; // a refused connection, a timeout or a port the container does not name
  }
}

async function probeOnce(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const h = probe.httpGet;
    if (h.host && h.host !== target.podIP) return false;
    const port = portNumber(h.port, target.container);
    const path = h.path?.startsWith('/') ? h.path : `/${h.path ?? ''}`;
    const headers = Object.fromEntries((h.httpHeaders ?? []).map((x) => [x.name, x.value]));
    const res = await fetch(`${(h.scheme ?? 'HTTP').toLowerCase()}://${target.podIP}:${port}${path}`, {
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 400;
  }
  if (probe.tcpSocket) {
    if (probe.tcpSocket.host && probe.tcpSocket.host !== target.podIP) return false;
    return tcpOpen(target.podIP, portNumber(probe.tcpSocket.port, target.container), timeoutMs);
  }
  if (probe.exec?.command) return (await target.exec(probe.exec.command, timeoutMs)) === 0;
  return false;
}

/** A probe port: a number, or the name of one of the container's ports. */
export function portNumber(port: number | string, container: V1Container): number {
  if (typeof port === 'number') return port;
  if (/^[0-9]+$/.test(port)) return Number(port);
  const named = (container.ports ?? []).find((p) => p.name === port);
  if (!named) throw new Error(`container ${container.name} has no port named ${JSON.stringify(port)}`);
  return named.containerPort;
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
