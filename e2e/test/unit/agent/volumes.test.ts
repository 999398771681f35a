import { describe, expect, it } from '@jest/globals';
import { portNumber } from '../../../agent/src/probe.ts';
import { mountsFor } from '../../../agent/src/volumes.ts';

describe('mountsFor', () => {
  const volumes = new Map([
    ['tmp', { hostPath: '/state/pods/u/volumes/tmp', readOnly: false }],
    ['token', { hostPath: '/state/pods/u/volumes/token', readOnly: true }],
  ]);

  it('maps volumeMounts to host paths, subPath and read-only included', () => {
    const mounts = mountsFor(
      {
        name: 'c',
        volumeMounts: [
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'tmp', mountPath: '/cache', subPath: 'cache', readOnly: true },
          { name: 'token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
        ],
      },
      volumes,
    );
    expect(mounts).toEqual([
      { hostPath: '/state/pods/u/volumes/tmp', containerPath: '/tmp', readOnly: false },
      { hostPath: '/state/pods/u/volumes/tmp/cache', containerPath: '/cache', readOnly: true },
      {
        hostPath: '/state/pods/u/volumes/token',
        containerPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ]);
  });

  it('refuses a subPath that leaves the volume and a mount of no volume', () => {
    expect(() =>
      mountsFor(
        { name: 'c', volumeMounts: [{ name: 'tmp', mountPath: '/x', subPath: '../../etc' }] },
        volumes,
      ),
    ).toThrow(/leaves the volume/);
    expect(() =>
      mountsFor({ name: 'c', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, volumes),
    ).toThrow(/volumeMount nope names no volume/);
  });
});

describe('portNumber', () => {
  const container = { name: 'srv', ports: [{ name: 'http', containerPort: 8080 }] };
  it('resolves numbers and named ports', () => {
    expect(portNumber(8081, container)).toBe(8081);
    expect(portNumber('9090', container)).toBe(9090);
    expect(portNumber('http', container)).toBe(8080);
    expect(() => portNumber('grpc', container)).toThrow(/container srv has no port named "grpc"/);
  });
});
