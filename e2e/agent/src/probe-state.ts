import type { V1Probe } from '@kubernetes/client-node';

/** One probe's running tally, advanced only by `recordProbe` (pure, so it is unit-tested). */
export interface ProbeTally {
  /** undefined until a threshold is first reached. */
  result: boolean | undefined;
  successes: number;
  failures: number;
  /** When the probe may run next, ms since the epoch. */
  nextAt: number;
}

export function newTally(probe: V1Probe, startedAt: number): ProbeTally {
  return {
    result: undefined,
    successes: 0,
    failures: 0,
    nextAt: startedAt + (probe.initialDelaySeconds ?? 0) * 1000,
  };
}

/** Counts a probe outcome; the result flips once successThreshold/failureThreshold is reached in a row. */
export function recordProbe(tally: ProbeTally, probe: V1Probe, ok: boolean, now: number): ProbeTally {
  const successes = ok ? tally.successes + 1 : 0;
  const failures = ok ? 0 : tally.failures + 1;
  let result = tally.result;
  if (ok && successes >= (probe.successThreshold ?? 1)) result = true;
  if (!ok && failures >= (probe.failureThreshold ?? 3)) result = false;
  return { result, successes, failures, nextAt: now + (probe.periodSeconds ?? 10) * 1000 };
}
