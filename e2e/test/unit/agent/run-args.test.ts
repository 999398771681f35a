import { describe, expect, it } from '@jest/globals';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  buildRunArgs,
  effectiveSecurity,
  nonRootViolation,
  resourceArgs,
} from '../../../agent/src/run-args.ts';

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'ns' },
  spec: { securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 }, containers: [] },
};

function argsFor(container: V1Container, env = new Map<string, string>()): string[] {
  return buildRunArgs({
    name: 'ss_ns_p_1234_srv_1',
    podmanPod: 'ss_ns_p_1234',
    container,
    security: effectiveSecurity(pod, container),
    env,
    mounts: [{ hostPath: '/state/v/models', containerPath: '/mnt/models', readOnly: true }],
    labels: { 'servingstack.dev/agent-node': 'n1' },
    logPath: '/state/logs/srv-1.log',
  });
}

const valueAfter = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));

describe('buildRunArgs', () => {
  const hardened: V1Container = {
    name: 'srv',
    image: 'localhost/servingstack/server:dev',
    args: ['--pool', '$(POOL)'],
    securityContext: {
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };

  it('runs in the pod with the rlimits this machine needs and never pulls', () => {
    const args = argsFor(hardened);
    expect(args.slice(0, 6)).toEqual(['run', '-d', '--name', 'ss_ns_p_1234_srv_1', '--pod', 'ss_ns_p_1234']);
    expect(valueAfter(args, '--ulimit')).toEqual(['nofile=1024:4096', 'nproc=1024:4096']);
    expect(valueAfter(args, '--pull')).toEqual(['never']);
  });

  it('carries the securityContext: user, read-only rootfs, no new privileges, dropped caps', () => {
    const args = argsFor(hardened);
    expect(valueAfter(args, '--user')).toEqual(['1000:1000']);
    expect(args).toContain('--read-only');
    expect(valueAfter(args, '--security-opt')).toEqual(['no-new-privileges']);
    expect(valueAfter(args, '--cap-drop')).toEqual(['ALL']);
    expect(valueAfter(args, '-v')).toEqual(['/state/v/models:/mnt/models:ro']);
  });

  it('keeps the image ENTRYPOINT when only args are given, expanding $(VAR)', () => {
    const args = argsFor(hardened, new Map([['POOL', 'latency']]));
    expect(args).not.toContain('--entrypoint');
    expect(args.slice(-3)).toEqual(['localhost/servingstack/server:dev', '--pool', 'latency']);
    expect(valueAfter(args, '--env')).toEqual(['POOL=latency']);
  });

  it('replaces the ENTRYPOINT when command is given', () => {
    const args = argsFor({ name: 'c', image: 'img', command: ['sh', '-c', 'echo hi'] });
    expect(valueAfter(args, '--entrypoint')).toEqual([JSON.stringify(['sh', '-c', 'echo hi'])]);
    expect(args.at(-1)).toBe('img');
  });

  it('refuses a container without an image', () => {
    expect(() => argsFor({ name: 'noimg' })).toThrow(/container noimg has no image/);
  });

  it('puts the cgroup limits before the image', () => {
    const args = argsFor({ ...hardened, resources: { limits: { cpu: '100m' } } });
    expect(valueAfter(args, '--cpu-quota')).toEqual(['10000']);
    expect(args.indexOf('--cpu-quota')).toBeLessThan(args.indexOf('localhost/servingstack/server:dev'));
  });
});

describe('resourceArgs', () => {
  const withResources = (resources: V1Container['resources']): V1Container => ({
    name: 'srv',
    image: 'img',
    ...(resources && { resources }),
  });

  it('maps requests.cpu to cpu shares as the kubelet does: 1024 per CPU', () => {
    expect(resourceArgs(withResources({ requests: { cpu: '250m' } }))).toEqual(['--cpu-shares', '256']);
    expect(resourceArgs(withResources({ requests: { cpu: '2' } }))).toEqual(['--cpu-shares', '2048']);
  });

  it('gives a container without a cpu request the minimum of 2 shares, and sets no quota', () => {
    expect(resourceArgs(withResources(undefined))).toEqual(['--cpu-shares', '2']);
    expect(resourceArgs(withResources({ requests: { cpu: '1m' } }))).toEqual(['--cpu-shares', '2']);
  });

  it('maps limits.cpu to a CFS quota over a 100 ms period', () => {
    const args = resourceArgs(withResources({ requests: { cpu: '100m' }, limits: { cpu: '100m' } }));
    expect(args).toEqual(['--cpu-shares', '102', '--cpu-period', '100000', '--cpu-quota', '10000']);
    expect(valueAfter(resourceArgs(withResources({ limits: { cpu: '1.5' } })), '--cpu-quota')).toEqual([
      '150000',
    ]);
  });

  it('rounds a cpu limit up to whole milli-CPUs and the quota up to the 1 ms minimum', () => {
    expect(valueAfter(resourceArgs(withResources({ limits: { cpu: '0.0001' } })), '--cpu-quota')).toEqual([
      '1000',
    ]);
  });

  it('maps limits.memory to a memory limit in bytes', () => {
    const args = resourceArgs(withResources({ requests: { memory: '256Mi' }, limits: { memory: '512Mi' } }));
    expect(valueAfter(args, '--memory')).toEqual([String(512 * 2 ** 20)]);
    expect(resourceArgs(withResources({ requests: { memory: '256Mi' } }))).not.toContain('--memory');
  });

  it('names the container and field of a quantity it cannot read', () => {
    expect(() => resourceArgs(withResources({ limits: { cpu: 'two' } }))).toThrow(
      /container srv: limits.cpu: "two" is not a resource quantity/,
    );
    expect(() => resourceArgs(withResources({ limits: { memory: '1 GB' } }))).toThrow(
      /container srv: limits.memory: "1 GB" is not a resource quantity/,
    );
  });
});

describe('nonRootViolation', () => {
  const sec = (runAsUser?: number) =>
    effectiveSecurity(
      {
        spec: {
          containers: [],
          securityContext: { runAsNonRoot: true, ...(runAsUser !== undefined && { runAsUser }) },
        },
      },
      { name: 'c' },
    );
  it('accepts a numeric non-zero uid from the spec or the image', () => {
    expect(nonRootViolation(sec(1000), '')).toBeUndefined();
    expect(nonRootViolation(sec(), '1000:1000')).toBeUndefined();
  });
  it('rejects root and names', () => {
    expect(nonRootViolation(sec(0), '')).toMatch(/runAsUser is 0/);
    expect(nonRootViolation(sec(), '')).toMatch(/runs as root/);
    expect(nonRootViolation(sec(), 'node')).toMatch(/"node" is not numeric/);
  });
});
