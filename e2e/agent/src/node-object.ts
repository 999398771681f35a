import {
  V1MicroTime,
  type V1Lease,
  type V1Node,
  type V1NodeCondition,
  type V1NodeStatus,
} from '@kubernetes/client-node';
import type { AgentConfig } from './config.ts';
import { timestamp } from './pod-status.ts';

/** The extended resource kube-scheduler counts; on this node it is FAKE, there is no GPU. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
export const FAKE_GPU_LABEL = 'servingstack.dev/fake-gpu';
export const AGENT_VERSION = 'servingstack-test-node-agent/0.1.0';

export function buildNode(config: AgentConfig): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: config.nodeName,
      labels: {
        'kubernetes.io/hostname': config.nodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        [FAKE_GPU_LABEL]: 'true',
      },
      annotations: {
        'servingstack.dev/node-agent': 'test tooling that plays the kubelet; its GPUs are fake',
      },
    },
    spec: {},
  };
}

export function allocatable(config: AgentConfig): Record<string, string> {
  const { cpu, memory, pods, fakeGpus } = config.capacity;
  return { cpu, memory, pods, 'ephemeral-storage': '100Gi', [GPU_RESOURCE]: fakeGpus };
}

/** The node's status: capacity (fake GPUs included), Ready, and the host's address on the pod bridge. */
export function buildNodeStatus(
  config: AgentConfig,
  hostIP: string,
  now: number,
  podmanVersion: string,
): V1NodeStatus {
  const t = timestamp(now) as unknown as Date;
  const cond = (type: string, status: string, reason: string, message: string): V1NodeCondition => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: t,
    lastTransitionTime: t,
  });
  const resources = allocatable(config);
  return {
    capacity: resources,
    allocatable: resources,
    conditions: [
      cond('Ready', 'True', 'KubeletReady', 'the servingstack test node agent is posting ready status'),
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'not measured by the test node agent'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'not measured by the test node agent'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'not measured by the test node agent'),
    ],
    addresses: [
      { type: 'InternalIP', address: hostIP },
      { type: 'Hostname', address: config.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      architecture: 'amd64',
      operatingSystem: 'linux',
      osImage: 'servingstack test node agent (podman)',
      kernelVersion: '',
      kubeletVersion: AGENT_VERSION,
      kubeProxyVersion: '',
      containerRuntimeVersion: `podman://${podmanVersion}`,
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  };
}

export const LEASE_SECONDS = 40;

export function buildLease(config: AgentConfig, nodeUid: string | undefined, now: number): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: config.nodeName,
      namespace: 'kube-node-lease',
      ...(nodeUid && {
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: config.nodeName, uid: nodeUid }],
      }),
    },
    spec: {
      holderIdentity: config.nodeName,
      leaseDurationSeconds: LEASE_SECONDS,
      renewTime: new V1MicroTime(now),
    },
  };
}
