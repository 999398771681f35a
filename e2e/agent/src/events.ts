import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { describeApiError } from './api.ts';
import type { Logger } from './log.ts';

/** Repeats of one reason for one container within this window are not recorded again. */
const REPEAT_MS = 10_000;

/**
 * Core Events on pods, as the kubelet records them (Started, Unhealthy, Killing, BackOff), so
 * `kubectl describe pod` tells what the agent did. Best effort: a failed write is only logged.
 */
export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #node: string;
  readonly #log: Logger;
  readonly #last = new Map<string, number>();

  constructor(core: CoreV1Api, node: string, log: Logger) {
    this.#core = core;
    this.#node = node;
    this.#log = log;
  }

  record(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, container?: string): void {
    const { name = '', namespace = '', uid } = pod.metadata ?? {};
    const key = `${uid}/${container ?? ''}/${reason}`;
    const now = Date.now();
    if (now - (this.#last.get(key) ?? 0) < REPEAT_MS) return;
    this.#last.set(key, now);
    const at = new Date(now);
    this.#core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.${now.toString(16)}${randomBytes(2).toString('hex')}`, namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            name,
            namespace,
            ...(uid && { uid }),
            ...(container && { fieldPath: `spec.containers{${container}}` }),
          },
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: at,
          lastTimestamp: at,
          source: { component: 'servingstack-node-agent', host: this.#node },
          reportingComponent: 'servingstack-node-agent',
          reportingInstance: this.#node,
        },
      })
      .catch((err: unknown) => this.#log.warn('event write failed', { reason, err: describeApiError(err) }));
  }

  /** Forgets a pod's repeat counters once it is gone. */
  forget(uid: string): void {
    for (const key of this.#last.keys()) if (key.startsWith(`${uid}/`)) this.#last.delete(key);
  }
}
