import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import {
  buildPodStatus,
  podPhase,
  timestamp,
  type ContainerView,
  type PodView,
} from '../../../agent/src/pod-status.ts';

const pod = (restartPolicy = 'Always'): V1Pod => ({
  metadata: { name: 'p' },
  spec: { restartPolicy, containers: [] },
});
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

const running = (name: string, ready: boolean): ContainerView => ({
  name,
  image: 'img',
  containerID: 'abc',
  state: { kind: 'running', startedAt: T0 },
  restartCount: 0,
  started: true,
  ready,
});

const view = (containers: ContainerView[], extra: Partial<PodView> = {}): PodView => ({
  hostIP: '10.89.0.1',
  podIP: '10.89.0.5',
  startTime: T0,
  sandboxReady: true,
  initDone: true,
  init: [],
  containers,
  ...extra,
});

const cond = (status: ReturnType<typeof buildPodStatus>, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe('podPhase', () => {
  it('is Pending until every container has started once', () => {
    const waiting: ContainerView = {
      ...running('b', false),
      state: { kind: 'waiting', reason: 'ContainerCreating' },
    };
    expect(podPhase(pod(), view([running('a', true), waiting]))).toBe('Pending');
    expect(podPhase(pod(), view([running('a', true)], { initDone: false }))).toBe('Pending');
    expect(podPhase(pod(), view([running('a', false)]))).toBe('Running');
  });

  it('ends Succeeded or Failed only for pods that do not restart', () => {
    const exited = (exitCode: number): ContainerView => ({
      ...running('a', false),
      state: { kind: 'terminated', exitCode, reason: 'x', startedAt: T0, finishedAt: T0 },
    });
    expect(podPhase(pod('Never'), view([exited(0)]))).toBe('Succeeded');
    expect(podPhase(pod('Never'), view([exited(1)]))).toBe('Failed');
    expect(podPhase(pod('OnFailure'), view([exited(1)]))).toBe('Running');
    expect(podPhase(pod('Always'), view([exited(0)]))).toBe('Running');
  });
});

describe('buildPodStatus', () => {
  it('is Ready only when every container is ready', () => {
    const s = buildPodStatus(pod(), view([running('a', true), running('b', false)]), T0);
    expect(cond(s, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [b]',
    });
    expect(cond(s, 'ContainersReady')?.status).toBe('False');
    const ready = buildPodStatus(pod(), view([running('a', true), running('b', true)]), T0);
    expect(cond(ready, 'Ready')?.status).toBe('True');
    expect(cond(ready, 'Initialized')?.status).toBe('True');
    expect(cond(ready, 'PodScheduled')?.status).toBe('True');
  });

  it('reports addresses and per-container state', () => {
    const s = buildPodStatus(pod(), view([running('a', true)]), T0);
    expect(s).toMatchObject({
      phase: 'Running',
      podIP: '10.89.0.5',
      podIPs: [{ ip: '10.89.0.5' }],
      hostIP: '10.89.0.1',
    });
    expect(s.containerStatuses?.[0]).toMatchObject({
      name: 'a',
      containerID: 'podman://abc',
      ready: true,
      restartCount: 0,
      state: { running: { startedAt: timestamp(T0) } },
    });
  });

  it('moves lastTransitionTime only when a condition flips', () => {
    const first = buildPodStatus(pod(), view([running('a', false)]), T0);
    const same = buildPodStatus(pod(), view([running('a', false)]), T0 + 60_000, first);
    expect(cond(same, 'Ready')?.lastTransitionTime).toBe(timestamp(T0));
    const flipped = buildPodStatus(pod(), view([running('a', true)]), T0 + 60_000, first);
    expect(cond(flipped, 'Ready')?.lastTransitionTime).toBe(timestamp(T0 + 60_000));
    expect(cond(flipped, 'Initialized')?.lastTransitionTime).toBe(timestamp(T0));
  });

  it('keeps the last termination of a restarted container', () => {
    const restarted: ContainerView = {
      ...running('a', false),
      restartCount: 2,
      lastTerminated: {
        kind: 'terminated',
        exitCode: 137,
        reason: 'Error',
        startedAt: T0,
        finishedAt: T0 + 1000,
      },
    };
    const s = buildPodStatus(pod(), view([restarted]), T0);
    expect(s.containerStatuses?.[0]?.restartCount).toBe(2);
    expect(s.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
  });
});
