// Kubernetes Events (events.k8s.io/v1) about a stack. client-node has no EventRecorder, so this
// one de-duplicates (same reason and note within a window) and rate-limits per stack, so a stuck
// stack cannot flood etcd.
import type { EventsV1Api } from '@kubernetes/client-node';
import { randomInt } from 'node:crypto';
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, KIND, type DefaultedStack } from '../api/servingstack.ts';
import type { Clock } from '../status/conditions.ts';

export const REPORTING_CONTROLLER = 'servingstack.dev/servingstack-operator';
const DEDUPE_MS = 10 * 60_000;
const BURST = 10;
const WINDOW_MS = 60_000;

export interface StackEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

export function eventName(stackName: string, at: Date): string {
  const suffix = (BigInt(at.getTime()) * 1_000_000n + BigInt(randomInt(1_000_000))).toString(16);
  return `${stackName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}

export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly instance: string;
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly seen = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();

  constructor(api: EventsV1Api, instance: string, now: Clock, log: Logger) {
    this.api = api;
    this.instance = instance;
    this.now = now;
    this.log = log;
  }

  /** Whether an event would be sent now; records it as sent when so. */
  admit(uid: string, e: StackEvent): boolean {
    const t = this.now().getTime();
    const key = `${uid}\u0000${e.reason}\u0000${e.note}`;
    const last = this.seen.get(key);
    if (last !== undefined && t - last < DEDUPE_MS) return false;
    const times = (this.recent.get(uid) ?? []).filter((x) => t - x < WINDOW_MS);
    if (times.length >= BURST) return false;
    times.push(t);
    this.recent.set(uid, times);
    this.seen.set(key, t);
    return true;
  }

  /** Drops what is remembered about a stack that is gone. */
  forget(uid: string): void {
    this.recent.delete(uid);
    for (const k of this.seen.keys()) if (k.startsWith(`${uid}\u0000`)) this.seen.delete(k);
  }

  async record(stack: DefaultedStack, e: StackEvent): Promise<void> {
    if (!this.admit(stack.uid, e)) return;
    try {
      await this.api.createNamespacedEvent({
        namespace: stack.namespace,
        body: {
          // events.k8s.io rejects a generateName ending in '.', so name it as client-go does: <name>.<hex time>.
          metadata: { name: eventName(stack.name, this.now()), namespace: stack.namespace },
          eventTime: new V1MicroTime(this.now().getTime()),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance,
          action: e.action,
          reason: e.reason,
          type: e.type,
          note: e.note.slice(0, 1024),
          regarding: {
            apiVersion: API_VERSION,
            kind: KIND,
            name: stack.name,
            namespace: stack.namespace,
            uid: stack.uid,
          },
        },
      });
    } catch (err) {
      // An event is a courtesy: losing one must not fail the reconcile.
      this.log.warn({ err: String(err), reason: e.reason }, 'could not record event');
    }
  }
}
