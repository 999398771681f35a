import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { PodConfigError, expandReferences } from './env.ts';
import { ULIMITS } from './podman.ts';
import { parseQuantity } from './quantity.ts';

/** The pod- and container-level securityContext merged the way the kubelet merges them. */
export interface EffectiveSecurity {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot: boolean;
  readOnlyRootFilesystem: boolean;
  noNewPrivileges: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
}

export function effectiveSecurity(pod: V1Pod, container: V1Container): EffectiveSecurity {
  const p = pod.spec?.securityContext ?? {};
  const c = container.securityContext ?? {};
  const runAsUser = c.runAsUser ?? p.runAsUser;
  const runAsGroup = c.runAsGroup ?? p.runAsGroup;
  return {
    ...(runAsUser !== undefined && { runAsUser }),
    ...(runAsGroup !== undefined && { runAsGroup }),
    runAsNonRoot: c.runAsNonRoot ?? p.runAsNonRoot ?? false,
    readOnlyRootFilesystem: c.readOnlyRootFilesystem ?? false,
    noNewPrivileges: c.allowPrivilegeEscalation === false,
    privileged: c.privileged ?? false,
    capAdd: c.capabilities?.add ?? [],
    capDrop: c.capabilities?.drop ?? [],
  };
}

/**
 * runAsNonRoot as the kubelet checks it: the uid that will run (runAsUser, else the image's
 * USER) must be numeric and non-zero. Returns why the container may not start, or undefined.
 */
export function nonRootViolation(sec: EffectiveSecurity, imageUser: string): string | undefined {
  if (!sec.runAsNonRoot) return undefined;
  if (sec.runAsUser !== undefined) {
    return sec.runAsUser === 0 ? 'runAsNonRoot is set but runAsUser is 0' : undefined;
  }
  const uid = imageUser.split(':')[0] ?? '';
  if (uid === '' || uid === '0' || uid === 'root') return 'runAsNonRoot is set and the image runs as root';
  if (!/^[0-9]+$/.test(uid))
    return `runAsNonRoot is set and the image's user ${JSON.stringify(uid)} is not numeric`;
  return undefined;
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface RunSpec {
  name: string;
  podmanPod: string;
  container: V1Container;
  security: EffectiveSecurity;
  env: ReadonlyMap<string, string>;
  mounts: readonly Mount[];
  labels: Record<string, string>;
  logPath: string;
}

// The kubelet's CPU mapping (pkg/kubelet/cm, cgroup v1): requests.cpu becomes cpu.shares,
// 1024 per CPU and at least 2 (what a container without a request gets); limits.cpu becomes a
// CFS quota over a 100 ms period, at least 1 ms.
const SHARES_PER_CPU = 1024;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
const CFS_PERIOD_US = 100_000;
const MIN_QUOTA_US = 1_000;

/** A CPU quantity in whole milli-CPUs, rounded up as Kubernetes' Quantity.MilliValue does. */
function milliCPU(container: string, field: string, text: string): number {
  try {
    return Math.ceil(Math.round(parseQuantity(text) * 1e6) / 1e3);
  } catch (err) {
    throw new PodConfigError(`container ${container}: ${field}: ${(err as Error).message}`);
  }
}

/**
 * cgroup arguments from the container's resources, as the kubelet sets them: cpu shares from
 * requests.cpu, a CFS quota from limits.cpu and a memory limit from limits.memory. Without them
 * every container could use the whole machine, and a replica would add no capacity.
 */
export function resourceArgs(c: V1Container): string[] {
  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  const requested = requests.cpu === undefined ? 0 : milliCPU(c.name, 'requests.cpu', requests.cpu);
  const shares = Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.floor((requested * SHARES_PER_CPU) / 1000)));
  const args = ['--cpu-shares', String(shares)];
  const cpuLimit = limits.cpu === undefined ? 0 : milliCPU(c.name, 'limits.cpu', limits.cpu);
  if (cpuLimit > 0) {
    const quota = Math.max(MIN_QUOTA_US, Math.floor((cpuLimit * CFS_PERIOD_US) / 1000));
    args.push('--cpu-period', String(CFS_PERIOD_US), '--cpu-quota', String(quota));
  }
  if (limits.memory !== undefined) {
    let bytes: number;
    try {
      bytes = Math.ceil(parseQuantity(limits.memory));
    } catch (err) {
      throw new PodConfigError(`container ${c.name}: limits.memory: ${(err as Error).message}`);
    }
    if (bytes > 0) args.push('--memory', String(bytes));
  }
  return args;
}

/** `podman run` arguments for one container of a pod; a pure function of the spec. */
export function buildRunArgs(spec: RunSpec): string[] {
  const { container: c, security: sec } = spec;
  if (!c.image) throw new PodConfigError(`container ${c.name} has no image`);
  const args = ['run', '-d', '--name', spec.name, '--pod', spec.podmanPod];
  for (const u of ULIMITS) args.push('--ulimit', u);
  // Images are built locally; there is no registry to pull from.
  args.push('--pull', 'never', '--log-driver', 'k8s-file', '--log-opt', `path=${spec.logPath}`);
  for (const [k, v] of Object.entries(spec.labels)) args.push('--label', `${k}=${v}`);
  args.push(...resourceArgs(c));
  for (const [k, v] of spec.env) args.push('--env', `${k}=${v}`);
  for (const m of spec.mounts) args.push('-v', `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`);
  if (c.workingDir) args.push('--workdir', c.workingDir);
  if (sec.runAsUser !== undefined) {
    args.push(
      '--user',
      sec.runAsGroup !== undefined ? `${sec.runAsUser}:${sec.runAsGroup}` : String(sec.runAsUser),
    );
  }
  if (sec.readOnlyRootFilesystem) args.push('--read-only');
  if (sec.noNewPrivileges) args.push('--security-opt', 'no-new-privileges');
  if (sec.privileged) args.push('--privileged');
  for (const cap of sec.capDrop) args.push('--cap-drop', cap);
  for (const cap of sec.capAdd) args.push('--cap-add', cap);
  const command = (c.command ?? []).map((s) => expandReferences(s, spec.env));
  const cmdArgs = (c.args ?? []).map((s) => expandReferences(s, spec.env));
  // command replaces the image's ENTRYPOINT (and with it its CMD); args replace CMD only.
  if (command.length > 0) args.push('--entrypoint', JSON.stringify(command));
  args.push(c.image, ...cmdArgs);
  return args;
}
