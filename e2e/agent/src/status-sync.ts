import type { V1PodStatus } from '@kubernetes/client-node';

/**
 * The fields of the status the agent would write that the API server's copy (as watched) does not
 * hold, as paths such as `conditions[Ready].status`; empty when they agree. Like the kubelet's
 * status manager, the agent re-syncs a pod whose stored status drifted from what it observes:
 * the node lifecycle controller marks every pod of a NotReady node unready, and nobody else puts
 * them back. Only what the agent writes counts: other fields, and conditions of types the agent
 * does not write, belong to other writers. Times compare to the second, whether the watch gave
 * them as strings or a list as Dates; an empty list or string the API server left out is equal.
 */
export function statusDiff(desired: V1PodStatus, live: V1PodStatus | undefined): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(desired) as [keyof V1PodStatus, unknown][]) {
    if (key !== 'conditions') {
      diff(key, want, live?.[key], out);
      continue;
    }
    for (const c of desired.conditions ?? []) {
      diff(
        `conditions[${c.type}]`,
        c,
        live?.conditions?.find((l) => l.type === c.type),
        out,
      );
    }
  }
  return out;
}

function diff(path: string, want: unknown, have: unknown, out: string[]): void {
  if (have === undefined && isEmpty(want)) return; // the API server leaves empty lists out
  if (want instanceof Date || have instanceof Date) {
    if (!sameSecond(want, have)) out.push(path);
  } else if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) out.push(path);
    else want.forEach((w, i) => diff(`${path}[${i}]`, w, have[i], out));
  } else if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object') out.push(path);
    else
      for (const [k, w] of Object.entries(want))
        diff(`${path}.${k}`, w, (have as Record<string, unknown>)[k], out);
  } else if (want !== have) {
    out.push(path);
  }
}

function isEmpty(v: unknown): boolean {
  return (
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (v !== null && typeof v === 'object' && Object.keys(v).length === 0)
  );
}

function sameSecond(a: unknown, b: unknown): boolean {
  const seconds = (v: unknown) =>
    v instanceof Date || typeof v === 'string' ? Math.floor(new Date(v).getTime() / 1000) : NaN;
  return seconds(a) === seconds(b);
}

/**
 * What to send for DESIRED: with the conditions of other writers that LIVE holds (DisruptionTarget
 * from the eviction controllers, a readiness gate's), since the merge patch replaces the whole
 * list. The kubelet's status manager keeps them the same way.
 */
export function withOtherWriters(desired: V1PodStatus, live: V1PodStatus | undefined): V1PodStatus {
  const mine = new Set((desired.conditions ?? []).map((c) => c.type));
  const others = (live?.conditions ?? []).filter((c) => !mine.has(c.type));
  return others.length === 0
    ? desired
    : { ...desired, conditions: [...(desired.conditions ?? []), ...others] };
}
