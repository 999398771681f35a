import type {
  V1ContainerState,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from '@kubernetes/client-node';

export interface Terminated {
  kind: 'terminated';
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: number;
  finishedAt: number;
}

export type ContainerState =
  { kind: 'waiting'; reason: string; message?: string } | { kind: 'running'; startedAt: number } | Terminated;

/** What the agent knows about one container of a pod (times in ms since the epoch). */
export interface ContainerView {
  name: string;
  image: string;
  containerID?: string;
  state: ContainerState;
  lastTerminated?: Terminated;
  restartCount: number;
  started: boolean;
  ready: boolean;
}

/** What the agent knows about one pod. */
export interface PodView {
  hostIP: string;
  podIP?: string;
  startTime?: number;
  sandboxReady: boolean;
  initDone: boolean;
  init: ContainerView[];
  containers: ContainerView[];
  /** Set when the pod can never run (e.g. an init container failed with restartPolicy Never). */
  failed?: { reason: string; message: string };
}

/** Kubernetes timestamps carry whole seconds. */
export function timestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The pod's phase as the kubelet derives it from its containers. */
export function podPhase(pod: V1Pod, view: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (view.failed) return 'Failed';
  if (!view.initDone) return 'Pending';
  const everStarted = (c: ContainerView) =>
    c.state.kind !== 'waiting' || c.restartCount > 0 || c.lastTerminated;
  if (view.containers.length === 0 || !view.containers.every(everStarted)) return 'Pending';
  const policy = pod.spec?.restartPolicy ?? 'Always';
  if (policy === 'Always') return 'Running';
  const ended = view.containers.map((c) => (c.state.kind === 'terminated' ? c.state : undefined));
  if (!ended.every((t) => t !== undefined)) return 'Running';
  if (ended.every((t) => t?.exitCode === 0)) return 'Succeeded';
  return policy === 'Never' ? 'Failed' : 'Running';
}

/**
 * The whole pod status, a pure function of the pod, what the agent saw and the clock.
 * A condition keeps its lastTransitionTime from `previous` unless its status flipped.
 */
export function buildPodStatus(pod: V1Pod, view: PodView, now: number, previous?: V1PodStatus): V1PodStatus {
  const phase = podPhase(pod, view);
  const done = phase === 'Succeeded' || phase === 'Failed';
  const allReady = view.containers.length > 0 && view.containers.every((c) => c.ready);
  const notReady = view.containers.filter((c) => !c.ready).map((c) => c.name);
  const ready: [boolean, string | undefined, string | undefined] = done
    ? [false, 'PodCompleted', undefined]
    : allReady
      ? [true, undefined, undefined]
      : [false, 'ContainersNotReady', `containers with unready status: [${notReady.join(' ')}]`];
  const pendingInit = view.init
    .filter((c) => !(c.state.kind === 'terminated' && c.state.exitCode === 0))
    .map((c) => c.name);
  const conditions: V1PodCondition[] = [
    condition('PodReadyToStartContainers', view.sandboxReady, now, previous),
    condition(
      'Initialized',
      view.initDone,
      now,
      previous,
      view.initDone ? undefined : 'ContainersNotInitialized',
      view.initDone ? undefined : `containers with incomplete status: [${pendingInit.join(' ')}]`,
    ),
    condition('Ready', ready[0], now, previous, ready[1], ready[2]),
    condition('ContainersReady', ready[0], now, previous, ready[1], ready[2]),
    condition('PodScheduled', true, now, previous),
  ];
  const status: V1PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    ...(view.podIP && { podIP: view.podIP, podIPs: [{ ip: view.podIP }] }),
    ...(view.startTime !== undefined && { startTime: timestamp(view.startTime) as unknown as Date }),
    initContainerStatuses: view.init.map(containerStatus),
    containerStatuses: view.containers.map(containerStatus),
  };
  if (view.failed) Object.assign(status, view.failed);
  return status;
}

function condition(
  type: string,
  ok: boolean,
  now: number,
  previous: V1PodStatus | undefined,
  reason?: string,
  message?: string,
): V1PodCondition {
  const status = ok ? 'True' : 'False';
  const before = previous?.conditions?.find((c) => c.type === type);
  const since =
    before?.status === status && before.lastTransitionTime
      ? asString(before.lastTransitionTime)
      : timestamp(now);
  return {
    type,
    status,
    lastTransitionTime: since as unknown as Date,
    ...(reason && { reason }),
    ...(message && { message }),
  };
}

function containerStatus(c: ContainerView): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    ...(c.containerID && { containerID: `podman://${c.containerID}` }),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: stateOf(c.state),
    lastState: c.lastTerminated ? stateOf(c.lastTerminated) : {},
  };
}

function stateOf(s: ContainerState): V1ContainerState {
  // The API's time fields are typed Date but travel as strings; the casts keep the wire form.
  const t = (ms: number) => timestamp(ms) as unknown as Date;
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, ...(s.message && { message: s.message }) } };
    case 'running':
      return { running: { startedAt: t(s.startedAt) } };
    case 'terminated':
      return {
        terminated: {
          exitCode: s.exitCode,
          reason: s.reason,
          ...(s.message && { message: s.message }),
          startedAt: t(s.startedAt),
          finishedAt: t(s.finishedAt),
        },
      };
  }
}

/** Informer objects carry Date (from a list) or string (from a watch event) timestamps. */
function asString(v: Date | string): string {
  return v instanceof Date ? timestamp(v.getTime()) : v;
}
