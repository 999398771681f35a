// How many intra-op threads onnxruntime gets when INTRA_OP_THREADS is not set: as many as the pod
// has CPUs, not as many as the host has cores. onnxruntime's own choice counts the host's cores, so
// a 2-CPU pod on a 64-core node would run 64 threads against a 2-CPU quota and be throttled.
// The pod's CPUs come from the downward API (the operator sets CPU_REQUEST_MILLICORES and
// CPU_LIMIT_MILLICORES from the container's requests.cpu and limits.cpu, divisor 1m) and from the
// cgroup's own quota, which is what a quota without Kubernetes (podman --cpus) sets.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuFacts {
  /** requests.cpu in millicores; 0 or undefined when the container requests none. */
  requestMillicores: number | undefined;
  /** limits.cpu in millicores; without a limit the downward API reports the node's allocatable CPU. */
  limitMillicores: number | undefined;
  /** The cgroup's CPU quota in CPUs (cpu.max), when it has one. */
  cgroupCpus: number | undefined;
  /** CPUs this process may run on (its affinity mask). */
  usableCpus: number;
}

/**
 * Intra-op threads for these facts: the CPU request when there is one (what the pod is sure
 * to get, rounded), else the limit; never more than the cgroup's quota or the CPUs the process
 * may use (whole CPUs: a 1.5-CPU quota runs one thread, as two would be throttled); at least one.
 */
export function intraOpThreadsFor(f: CpuFacts): number {
  const millis = f.requestMillicores || f.limitMillicores;
  const caps = [f.usableCpus, f.cgroupCpus].filter((x): x is number => x !== undefined && x > 0);
  const wanted = millis ? Math.round(millis / 1000) : Infinity;
  return Math.max(1, Math.min(wanted, ...caps.map(Math.floor)));
}

/** cgroup v2's cpu.max ("max 100000" or "<quota> <period>") in CPUs; undefined when unlimited or unreadable. */
export function cgroupCpus(
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): number | undefined {
  try {
    const [quota, period] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || !period) return undefined;
    const cpus = Number(quota) / Number(period);
    return Number.isFinite(cpus) && cpus > 0 ? cpus : undefined;
  } catch {
    return undefined;
  }
}

export function cpuFacts(request: number | undefined, limit: number | undefined): CpuFacts {
  return {
    requestMillicores: request,
    limitMillicores: limit,
    cgroupCpus: cgroupCpus(),
    usableCpus: availableParallelism(),
  };
}
