import { describe, expect, it } from '@jest/globals';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  PodConfigError,
  envReferences,
  expandReferences,
  resolveEnv,
  type EnvSources,
} from '../../../agent/src/env.ts';

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u-1', labels: { app: 'x' } },
  spec: { nodeName: 'node-a', containers: [] },
};
const sources: EnvSources = {
  podIP: '10.89.0.7',
  hostIP: '10.89.0.1',
  configMaps: new Map([['cm', { A: 'from-cm', B: 'b' }]]),
  secrets: new Map([['sec', { TOKEN: 's3cret' }]]),
  allocatable: { cpu: '8', memory: '32Gi' },
};

describe('resolveEnv', () => {
  it('resolves the downward API, ConfigMap and Secret references', () => {
    const c: V1Container = {
      name: 'c',
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cm', key: 'A' } } },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'sec', key: 'TOKEN' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      ],
    };
    const env = resolveEnv(pod, c, sources);
    expect(Object.fromEntries(env)).toEqual({
      POD_NAME: 'p',
      POD_NAMESPACE: 'ns',
      POD_IP: '10.89.0.7',
      APP: 'x',
      FROM_CM: 'from-cm',
      TOKEN: 's3cret',
      MEM_MI: String(32 * 1024),
    });
  });

  it('orders base, envFrom, env and expands earlier variables', () => {
    const c: V1Container = {
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      env: [
        { name: 'CM_B', value: 'overridden' },
        { name: 'URL', value: 'http://$(HOST):$(PORT)/$(MISSING)$$' },
      ],
    };
    const env = resolveEnv(pod, c, sources, { HOST: 'h', PORT: '1' });
    expect(env.get('CM_A')).toBe('from-cm');
    expect(env.get('CM_B')).toBe('overridden');
    expect(env.get('URL')).toBe('http://h:1/$(MISSING)$');
  });

  it('fails with a message naming the container, variable and missing key', () => {
    const c: V1Container = {
      name: 'srv',
      env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'NOPE' } } }],
    };
    expect(() => resolveEnv(pod, c, sources)).toThrow(PodConfigError);
    expect(() => resolveEnv(pod, c, sources)).toThrow(
      /container srv: env X: ConfigMap "cm" has no key "NOPE"/,
    );
  });

  it('skips optional references that are absent', () => {
    const c: V1Container = {
      name: 'c',
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } }],
      envFrom: [{ secretRef: { name: 'absent', optional: true } }],
    };
    expect(resolveEnv(pod, c, sources).has('X')).toBe(false);
  });

  it('lists the objects to fetch first', () => {
    const refs = envReferences([
      { name: 'a', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm1', key: 'k' } } }] },
      { name: 'b', envFrom: [{ secretRef: { name: 's1' } }] },
    ]);
    expect([...refs.configMaps]).toEqual(['cm1']);
    expect([...refs.secrets]).toEqual(['s1']);
  });
});

describe('expandReferences', () => {
  it('leaves unknown references verbatim', () => {
    expect(expandReferences('$(A)-$(B)', new Map([['A', '1']]))).toBe('1-$(B)');
  });
});
