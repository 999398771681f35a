// metav1.Condition handling: lastTransitionTime moves only when status flips; the clock is injected.
import type { Condition } from '../api/servingstack.ts';

export type Clock = () => Date;

export const CONDITION_READY = 'Ready';
export const CONDITION_THROUGHPUT = 'ThroughputAvailable';
export const CONDITION_LATENCY = 'LatencyAvailable';
export const CONDITION_ROUTING = 'RoutingReady';
/**
 * True only when both pools serve the model version spec.model pins on every ready replica, with
 * at least one ready replica each. Not a part of Ready: a Rolling switch keeps the stack serving.
 */
export const CONDITION_MODEL_VERSION = 'ModelVersionConsistent';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** RFC 3339 with second precision, as metav1.Time serialises; avoids spurious diffs on re-read. */
export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function setCondition(
  previous: readonly Condition[] | undefined,
  next: ConditionInput,
  generation: number,
  now: Clock,
): Condition {
  const old = previous?.find((c) => c.type === next.type);
  const lastTransitionTime =
    old && old.status === next.status ? normaliseTime(old.lastTransitionTime) : formatTime(now());
  return { ...next, observedGeneration: generation, lastTransitionTime };
}

/** Cached objects from a list carry Date objects, watch events carry strings: one shape here. */
function normaliseTime(t: unknown): string {
  if (t instanceof Date) return formatTime(t);
  return String(t);
}
