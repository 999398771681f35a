import { describe, expect, it } from '@jest/globals';
import { parseAgentConfig } from '../../../agent/src/config.ts';
import { GPU_RESOURCE, buildLease, buildNode, buildNodeStatus } from '../../../agent/src/node-object.ts';

const config = parseAgentConfig(['--fake-gpus', '4'], { KUBECONFIG: '/k', AGENT_STATE_DIR: '/s' });

describe('the node the agent registers', () => {
  it('advertises fake GPUs and says they are fake', () => {
    const node = buildNode(config);
    expect(node.metadata?.labels?.['servingstack.dev/fake-gpu']).toBe('true');
    const status = buildNodeStatus(config, '10.89.0.1', 0, '4.3.1');
    expect(status.capacity?.[GPU_RESOURCE]).toBe('4');
    expect(status.allocatable?.[GPU_RESOURCE]).toBe('4');
  });

  it('is Ready with its address on the pod bridge', () => {
    const status = buildNodeStatus(config, '10.89.0.1', 0, '4.3.1');
    expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status.addresses).toContainEqual({ type: 'InternalIP', address: '10.89.0.1' });
  });

  it('renews a Lease in kube-node-lease owned by the Node', () => {
    const lease = buildLease(config, 'uid-1', Date.UTC(2026, 0, 1));
    expect(lease.metadata).toMatchObject({ name: 'servingstack-node-1', namespace: 'kube-node-lease' });
    expect(lease.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Node', uid: 'uid-1' });
    expect(JSON.stringify(lease.spec?.renewTime)).toBe('"2026-01-01T00:00:00.000000Z"');
  });
});
