import { describe, expect, it } from '@jest/globals';
import { newTally, recordProbe } from '../../../agent/src/probe-state.ts';

describe('recordProbe', () => {
  const probe = { periodSeconds: 2, initialDelaySeconds: 5, failureThreshold: 3, successThreshold: 1 };

  it('waits initialDelaySeconds before the first probe, then periodSeconds', () => {
    const t = newTally(probe, 1_000);
    expect(t.nextAt).toBe(6_000);
    expect(recordProbe(t, probe, true, 6_000).nextAt).toBe(8_000);
  });

  it('fails only after failureThreshold failures in a row', () => {
    let t = newTally(probe, 0);
    t = recordProbe(t, probe, true, 0);
    expect(t.result).toBe(true);
    t = recordProbe(t, probe, false, 0);
    t = recordProbe(t, probe, false, 0);
    expect(t.result).toBe(true);
    t = recordProbe(t, probe, true, 0);
    t = recordProbe(t, probe, false, 0);
    t = recordProbe(t, probe, false, 0);
    expect(t.result).toBe(true);
    t = recordProbe(t, probe, false, 0);
    expect(t.result).toBe(false);
  });

  it('needs successThreshold successes in a row to pass', () => {
    const strict = { ...probe, successThreshold: 2 };
    let t = recordProbe(newTally(strict, 0), strict, true, 0);
    expect(t.result).toBeUndefined();
    t = recordProbe(t, strict, true, 0);
    expect(t.result).toBe(true);
  });
});
