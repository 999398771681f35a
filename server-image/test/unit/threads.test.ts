import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../src/config.ts';
import { cgroupCpus, intraOpThreadsFor } from '../../src/threads.ts';
import type { CpuFacts } from '../../src/threads.ts';

const host64: CpuFacts = {
  requestMillicores: undefined,
  limitMillicores: undefined,
  cgroupCpus: undefined,
  usableCpus: 64,
};

describe('intra-op threads sized to the pod', () => {
  it.each<[string, Partial<CpuFacts>, number]>([
    ['no pod facts: the CPUs the process may use', {}, 64],
    ['a request of 2 CPUs on a 64-core host', { requestMillicores: 2000 }, 2],
    ['a request of 500m: still one thread', { requestMillicores: 500 }, 1],
    ['a limit alone (no request)', { requestMillicores: 0, limitMillicores: 4000 }, 4],
    ['a request under the limit: the request', { requestMillicores: 1500, limitMillicores: 8000 }, 2],
    ['the cgroup quota caps everything (podman --cpus 1)', { requestMillicores: 4000, cgroupCpus: 1 }, 1],
    ['the affinity mask caps everything (taskset -c 0)', { usableCpus: 1, requestMillicores: 4000 }, 1],
    [
      'a fractional quota is not rounded up past (1.5 CPUs: one thread, not two)',
      { requestMillicores: 1500, limitMillicores: 1500, cgroupCpus: 1.5 },
      1,
    ],
    ['a quota of 2.5 CPUs and no request: two threads', { cgroupCpus: 2.5 }, 2],
  ])('%s', (_what, facts, threads) => {
    expect(intraOpThreadsFor({ ...host64, ...facts })).toBe(threads);
  });

  it("reads cgroup v2's cpu.max", () => {
    expect(cgroupCpus(() => '150000 100000\n')).toBe(1.5);
    expect(cgroupCpus(() => 'max 100000\n')).toBeUndefined();
    expect(
      cgroupCpus(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
  });

  it('the downward API values reach the sizing; INTRA_OP_THREADS wins; spinning is off unless asked for', () => {
    const facts = (request: number | undefined, limit: number | undefined): CpuFacts => ({
      ...host64,
      requestMillicores: request,
      limitMillicores: limit,
    });
    const pod = { CPU_REQUEST_MILLICORES: '3000', CPU_LIMIT_MILLICORES: '64000' };
    expect(parseConfig(pod, [], facts)).toMatchObject({ intraOpThreads: 3, threadSpinning: false });
    expect(parseConfig({ ...pod, INTRA_OP_THREADS: '6' }, [], facts).intraOpThreads).toBe(6);
    expect(parseConfig({ ...pod, INTRA_OP_THREADS: '0' }, [], facts).intraOpThreads).toBe(3);
    expect(parseConfig({ THREAD_SPINNING: '1' }, [], facts)).toMatchObject({
      intraOpThreads: 64,
      threadSpinning: true,
    });
    expect(() => parseConfig({ THREAD_SPINNING: 'yes' }, [], facts)).toThrow(
      "THREAD_SPINNING must be one of 0, 1, got 'yes'",
    );
    expect(() => parseConfig({ CPU_REQUEST_MILLICORES: '1.5' }, [], facts)).toThrow(
      "CPU_REQUEST_MILLICORES must be an integer, got '1.5'",
    );
  });
});
