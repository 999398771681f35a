// Kubernetes Events (events.k8s.io/v1) about a stack, only when something happened. client-node has
// no EventRecorder, so this one keeps, per stack, which warnings it has already posted: a standing
// condition (rules ingress-nginx cannot express, a name taken by someone else) is posted when it
// appears or its text changes, never again while it persists, and again if it goes and comes back.
// What it keeps about a stack goes with the stack. A process that has kept nothing about a stack yet
// (after a restart or a hand-over) takes the warnings the stack's conditions already show as posted,
// so a new operator over converged stacks writes nothing. A burst limit per stack bounds what a
// flapping stack can cost etcd.
import type { EventsV1Api } from '@kubernetes/client-node';
import { randomInt } from 'node:crypto';
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, KIND, type DefaultedStack } from '../api/servingstack.ts';
import type { Clock } from '../status/conditions.ts';

export const REPORTING_CONTROLLER = 'servingstack.dev/servingstack-operator';
const BURST = 10;
const WINDOW_MS = 60_000;

export interface StackEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

export type EventsApi = Pick<EventsV1Api, 'createNamespacedEvent'>;

export function eventName(stackName: string, at: Date): string {
  const suffix = (BigInt(at.getTime()) * 1_000_000n + BigInt(randomInt(1_000_000))).toString(16);
  return `${stackName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}

interface Memory {
  uid: string;
  /** reason + note of every warning posted and still standing. */
  standing: Set<string>;
  /** When events were sent within the burst window. */
  sent: number[];
}

const warningKey = (e: StackEvent) => `${e.reason}\u0000${e.note}`;

export class EventRecorder {
  private readonly api: EventsApi;
  private readonly instance: string;
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly stacks = new Map<string, Memory>();

  constructor(api: EventsApi, instance: string, now: Clock, log: Logger) {
    this.api = api;
    this.instance = instance;
    this.now = now;
    this.log = log;
  }

  /** How many stacks it keeps anything about. */
  get remembered(): number {
    return this.stacks.size;
  }

  /** What it keeps about `stack`, and whether that is new (nothing was kept about it before). */
  private memory(stack: DefaultedStack): { m: Memory; isNew: boolean } {
    const key = `${stack.namespace}/${stack.name}`;
    const m = this.stacks.get(key);
    // A stack deleted and re-created under the same name starts afresh.
    if (m && m.uid === stack.uid) return { m, isNew: false };
    const fresh: Memory = { uid: stack.uid, standing: new Set(), sent: [] };
    this.stacks.set(key, fresh);
    return { m: fresh, isNew: true };
  }

  /** Posts an event about something the operator just did (each one is news). */
  async record(stack: DefaultedStack, e: StackEvent): Promise<void> {
    await this.send(stack, this.memory(stack).m, e);
  }

  /**
   * The one Event of a pass, at most: new or changed standing warnings (one Warning, named by the
   * first of them, its note saying all of them and what was applied), else what was applied (a
   * Normal Applied), else none. Warnings already posted are not posted again while they stand;
   * when the pass saw everything (`complete`), ones that no longer stand are forgotten, so they are
   * posted again if they return. On the first pass of this process over the stack, memory cannot
   * tell which warnings were posted: those the stack's status already showed (`shownBefore`) were
   * posted by whoever wrote it (the operator before a restart or a hand-over); each other one is news,
   * whether or not any condition changed (Ready names only the first blocker).
   */
  async pass(
    stack: DefaultedStack,
    changes: readonly string[],
    warnings: readonly StackEvent[],
    complete: boolean,
    shownBefore: (w: StackEvent) => boolean,
  ): Promise<void> {
    const { m, isNew } = this.memory(stack);
    const now = new Set(warnings.map(warningKey));
    if (complete) for (const k of m.standing) if (!now.has(k)) m.standing.delete(k);
    if (isNew) for (const w of warnings) if (shownBefore(w)) m.standing.add(warningKey(w));
    const fresh = [...new Map(warnings.map((w) => [warningKey(w), w])).values()].filter(
      (w) => !m.standing.has(warningKey(w)),
    );
    const applied = changes.length > 0 ? changes.join(', ') : undefined;
    const [first] = fresh;
    const e: StackEvent | undefined = first
      ? {
          type: 'Warning',
          reason: first.reason,
          action: first.action,
          note: [...fresh.map((w) => w.note), ...(applied ? [applied] : [])].join('; '),
        }
      : applied
        ? { type: 'Normal', reason: 'Applied', action: 'Apply', note: applied }
        : undefined;
    if (!e) return;
    if (await this.send(stack, m, e)) for (const w of fresh) m.standing.add(warningKey(w));
  }

  /** The warnings that stand for `stack` after a pass that changed nothing (none taken as shown before). */
  async standing(stack: DefaultedStack, warnings: readonly StackEvent[], complete: boolean): Promise<void> {
    await this.pass(stack, [], warnings, complete, () => false);
  }

  /** Drops everything kept about a stack that is gone. */
  forget(namespace: string, name: string): void {
    this.stacks.delete(`${namespace}/${name}`);
  }

  /** Whether the burst limit lets one more event through now; counts it when so. */
  private admit(m: Memory): boolean {
    const t = this.now().getTime();
    m.sent = m.sent.filter((x) => t - x < WINDOW_MS);
    if (m.sent.length >= BURST) return false;
    m.sent.push(t);
    return true;
  }

  private async send(stack: DefaultedStack, m: Memory, e: StackEvent): Promise<boolean> {
    if (!this.admit(m)) return false;
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
      return true;
    } catch (err) {
      // An event is a courtesy: losing one must not fail the reconcile (it is tried again next pass).
      this.log.warn({ err: String(err), reason: e.reason }, 'could not record event');
      return false;
    }
  }
}
