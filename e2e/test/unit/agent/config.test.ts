import { describe, expect, it } from '@jest/globals';
import { parseAgentConfig } from '../../../agent/src/config.ts';

describe('parseAgentConfig', () => {
  const env = { KUBECONFIG: '/k/config', AGENT_STATE_DIR: '/state' };

  it('defaults to one node with eight fake GPUs', () => {
    const c = parseAgentConfig([], env);
    expect(c.nodeName).toBe('servingstack-node-1');
    expect(c.capacity.fakeGpus).toBe('8');
    expect(c.network).toBe('servingstack');
    expect(c.ociRuntime).toBe('runc');
  });

  it('lets flags win over their environment twins', () => {
    const c = parseAgentConfig(['--node-name', 'n2', '--fake-gpus=8'], { ...env, AGENT_NODE_NAME: 'n1' });
    expect(c.nodeName).toBe('n2');
    expect(c.capacity.fakeGpus).toBe('8');
  });

  it('names the flag that is wrong', () => {
    expect(() => parseAgentConfig(['--fake-gpus', 'four'], env)).toThrow(/--fake-gpus .*"four"/);
    expect(() => parseAgentConfig(['--bogus', 'x'], env)).toThrow(/unknown flag "--bogus"/);
    expect(() => parseAgentConfig([], { AGENT_STATE_DIR: '/s' })).toThrow(
      /--kubeconfig \(or \$KUBECONFIG\) is required/,
    );
    expect(() => parseAgentConfig(['--node-name'], env)).toThrow(/--node-name needs a value/);
  });
});
