import { describe, expect, it } from '@jest/globals';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { serviceHosts, serviceListeners, withServiceSection } from '../../../agent/src/service-rules.ts';

function service(
  ns: string,
  name: string,
  clusterIP: string,
  extra: Partial<V1Service['spec']> = {},
): V1Service {
  return {
    metadata: { namespace: ns, name },
    spec: { clusterIP, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...extra },
  };
}

function slice(
  ns: string,
  svc: string,
  endpoints: { ip: string; ready?: boolean }[],
  port = 8080,
): V1EndpointSlice {
  return {
    metadata: { namespace: ns, name: `${svc}-abc`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.ready !== undefined && { conditions: { ready: e.ready } }),
    })),
  };
}

describe('serviceListeners', () => {
  it('listens on each ClusterIP port and relays to the ready endpoints on their target port', () => {
    const listeners = serviceListeners(
      [service('ns', 'stack-latency', '10.0.0.17')],
      [
        slice('ns', 'stack-latency', [
          { ip: '10.88.0.5' },
          { ip: '10.88.0.6', ready: false },
          { ip: '10.88.0.7', ready: true },
        ]),
        // Another namespace's Service of the same name, and another Service's slice: not ours.
        slice('other', 'stack-latency', [{ ip: '10.88.0.99' }]),
        slice('ns', 'stack-throughput', [{ ip: '10.88.0.98' }]),
      ],
    );
    expect(listeners).toEqual([
      {
        key: '10.0.0.17:80',
        service: 'ns/stack-latency:http',
        clusterIP: '10.0.0.17',
        port: 80,
        backends: [
          { ip: '10.88.0.5', port: 8080 },
          { ip: '10.88.0.7', port: 8080 },
        ],
      },
    ]);
  });

  it('keeps a listener for a Service without endpoints (connections are refused, not hung)', () => {
    expect(serviceListeners([service('ns', 'empty', '10.0.0.3')], [])).toMatchObject([
      { key: '10.0.0.3:80', backends: [] },
    ]);
  });

  it('matches EndpointSlice ports by the Service port name', () => {
    const svc = service('ns', 'two', '10.0.0.4', {
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'metrics', port: 9090, protocol: 'TCP' },
      ],
    });
    const s = slice('ns', 'two', [{ ip: '10.88.0.5' }]);
    s.ports = [
      { name: 'metrics', port: 9100 },
      { name: 'http', port: 8080 },
    ];
    expect(serviceListeners([svc], [s]).map((l) => [l.key, l.backends])).toEqual([
      ['10.0.0.4:80', [{ ip: '10.88.0.5', port: 8080 }]],
      ['10.0.0.4:9090', [{ ip: '10.88.0.5', port: 9100 }]],
    ]);
  });

  it('leaves out headless, ExternalName and UDP Services and the API server’s own', () => {
    const udp = service('ns', 'dns', '10.0.0.10', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
    expect(
      serviceListeners(
        [
          service('ns', 'headless', 'None'),
          service('ns', 'ext', '', { type: 'ExternalName', externalName: 'example.com' }),
          service('default', 'kubernetes', '10.0.0.1'),
          udp,
        ],
        [],
      ),
    ).toEqual([]);
  });
});

describe('serviceHosts', () => {
  it('names each Service as cluster DNS would, fully qualified, to its ClusterIP', () => {
    expect(serviceHosts([service('ns', 'a', '10.0.0.17'), service('ns', 'headless', 'None')])).toEqual({
      'a.ns.svc': '10.0.0.17',
      'a.ns.svc.cluster.local': '10.0.0.17',
    });
  });
});

describe('withServiceSection', () => {
  const podman = '127.0.0.1\tlocalhost\n::1\tlocalhost\n10.88.0.5\tdemo-latency-abc\n';

  it("adds the Services' entries after podman's own lines, which it keeps", () => {
    const out = withServiceSection(podman, { 'b.ns.svc': '10.0.0.2', 'a.ns.svc': '10.0.0.1' });
    expect(out).toBe(
      podman +
        '# servingstack services (node agent)\n10.0.0.1\ta.ns.svc\n10.0.0.2\tb.ns.svc\n# end servingstack services\n',
    );
  });

  it('replaces the section it wrote before: a Service made later appears, one deleted goes', () => {
    const first = withServiceSection(podman, { 'old.ns.svc': '10.0.0.9' });
    const second = withServiceSection(first, { 'sibling.ns.svc': '10.0.0.3' });
    expect(second).toContain('10.0.0.3\tsibling.ns.svc');
    expect(second).not.toContain('old.ns.svc');
    expect(second.startsWith(podman)).toBe(true);
    // Idempotent: the same entries give the same file, so no write.
    expect(withServiceSection(second, { 'sibling.ns.svc': '10.0.0.3' })).toBe(second);
  });
});
