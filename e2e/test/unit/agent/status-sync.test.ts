import { describe, expect, it } from '@jest/globals';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { buildPodStatus, type PodView } from '../../../agent/src/pod-status.ts';
import { statusDiff, withOtherWriters } from '../../../agent/src/status-sync.ts';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const pod: V1Pod = { metadata: { name: 'p' }, spec: { containers: [] } };
const view: PodView = {
  hostIP: '10.89.0.1',
  podIP: '10.89.0.5',
  startTime: T0,
  sandboxReady: true,
  initDone: true,
  init: [],
  containers: [
    {
      name: 'app',
      image: 'img',
      containerID: 'abc',
      state: { kind: 'running', startedAt: T0 },
      restartCount: 0,
      started: true,
      ready: true,
    },
  ],
};
const desired = buildPodStatus(pod, view, T0 + 5_000);

/**
 * The status as the API server returns it: JSON on the wire, empty lists left out (no init
 * containers here), and fields the agent never writes added.
 */
const stored = (status: V1PodStatus): V1PodStatus => {
  const json = JSON.parse(JSON.stringify(status)) as V1PodStatus;
  delete json.initContainerStatuses;
  return { ...json, qosClass: 'BestEffort' };
};

describe('statusDiff', () => {
  it('finds nothing when the API server holds what the agent would write', () => {
    expect(desired.initContainerStatuses).toEqual([]);
    expect(statusDiff(desired, stored(desired))).toEqual([]);
  });

  it('compares times to the second, whether watched as strings or listed as Dates', () => {
    const listed = stored(desired);
    listed.startTime = new Date(T0 + 400);
    for (const c of listed.conditions ?? []) c.lastTransitionTime = new Date(String(c.lastTransitionTime));
    expect(statusDiff(desired, listed)).toEqual([]);
    listed.startTime = new Date(T0 + 1_000);
    expect(statusDiff(desired, listed)).toEqual(['startTime']);
  });

  it('finds the Ready condition the node lifecycle controller turned False', () => {
    const marked = stored(desired);
    for (const c of marked.conditions ?? []) {
      if (c.type === 'Ready')
        Object.assign(c, { status: 'False', lastTransitionTime: '2026-01-01T00:01:00Z' });
    }
    expect(statusDiff(desired, marked)).toEqual([
      'conditions[Ready].status',
      'conditions[Ready].lastTransitionTime',
    ]);
  });

  it('ignores conditions of types the agent does not write, and their order', () => {
    const live = stored(desired);
    live.conditions = [
      { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager' },
      ...(live.conditions ?? []).reverse(),
    ];
    expect(statusDiff(desired, live)).toEqual([]);
  });

  it('finds a container status or address that differs, and a status never written', () => {
    const live = stored(desired);
    live.containerStatuses![0]!.ready = false;
    live.podIP = '10.89.0.6';
    expect(statusDiff(desired, live)).toEqual(['podIP', 'containerStatuses[0].ready']);
    expect(statusDiff(desired, undefined)).toContain('phase');
  });
});

describe('withOtherWriters', () => {
  it("sends the agent's conditions with those of other writers, which a merge patch would drop", () => {
    const disruption = { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager' };
    const gate = { type: 'example.com/lb-ready', status: 'True' };
    const live = stored(desired);
    live.conditions = [disruption, ...(live.conditions ?? []), gate];
    live.conditions.find((c) => c.type === 'Ready')!.status = 'False';
    const sent = withOtherWriters(desired, live);
    expect(sent.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['PodReadyToStartContainers', 'True'],
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
      ['PodScheduled', 'True'],
      ['DisruptionTarget', 'True'],
      ['example.com/lb-ready', 'True'],
    ]);
    expect(withOtherWriters(desired, stored(desired))).toBe(desired);
    expect(withOtherWriters(desired, undefined)).toBe(desired);
  });
});
