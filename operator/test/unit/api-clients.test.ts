// The transport every operator client uses, with client-node's own request path above a fake
// transport: writes pass the gate right before they would leave the process, requests name the
// process, and the elector's per-call deadline reaches the request as an abort signal.
import { describe, expect, test } from '@jest/globals';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { apiConfiguration, OPEN_GATE } from '../../src/controller/api-clients.ts';
import { LeaderElector, LeadershipLostError } from '../../src/controller/leader.ts';
import { KubeClient } from '../../src/reconcile/kube-client.ts';
import { FakeTransport, fakeKubeConfig } from '../support/fake-transport.ts';
import { ManualClock, settle } from '../support/manual-clock.ts';

const calls = { inc: () => {} };
const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's', namespace: 'ml' },
  spec: { ports: [{ port: 80 }] },
};

describe('the gated transport', () => {
  test('with the gate shut, a write never leaves the process; reads still go', async () => {
    const transport = new FakeTransport();
    let open = true;
    const gate = {
      check: () => {
        if (!open) throw new LeadershipLostError('not the leader');
      },
    };
    const kube = new KubeClient(apiConfiguration(fakeKubeConfig(), gate, 'op-a', transport), calls);
    await kube.apply(service);
    open = false;
    const before = transport.sent.length;
    await expect(kube.apply(service)).rejects.toThrow(LeadershipLostError);
    await expect(kube.delete(service, 'u')).rejects.toThrow(LeadershipLostError);
    await expect(kube.applyStatus('ml', 'x', {})).rejects.toThrow(LeadershipLostError);
    expect(transport.sent.slice(before).filter((s) => s.method !== 'GET')).toEqual([]);
    await expect(kube.read(service)).rejects.toMatchObject({ code: 404 });
    expect(transport.sent.at(-1)?.method).toBe('GET');
  });

  test('every request names the process in its User-Agent', async () => {
    const transport = new FakeTransport();
    const kube = new KubeClient(apiConfiguration(fakeKubeConfig(), OPEN_GATE, 'op-a', transport), calls);
    await kube.apply(service);
    expect(new Set(transport.sent.map((s) => s.headers['User-Agent']))).toEqual(
      new Set(['servingstack-operator/op-a']),
    );
  });

  test('a Lease call that hangs is aborted at the renew deadline, through client-node’s own request path', async () => {
    const transport = new FakeTransport();
    transport.hold = new Promise(() => {});
    const clock = new ManualClock();
    const elector = new LeaderElector({
      api: new CoordinationV1Api(apiConfiguration(fakeKubeConfig(), OPEN_GATE, 'op-a', transport)),
      namespace: 'ops',
      name: 'lease',
      identity: 'op-a',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      log: pino({ level: 'silent' }),
      clock,
    });
    void elector.run(
      () => {},
      () => {},
    );
    await settle();
    const first = transport.sent[0];
    expect(first?.url.pathname).toBe('/apis/coordination.k8s.io/v1/namespaces/ops/leases/lease');
    expect(first?.signal?.aborted).toBe(false);
    await clock.advance(9_999);
    expect(first?.signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(first?.signal?.aborted).toBe(true);
    await elector.release();
  });
});
