import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions<T> {
  timeoutMs?: number;
  intervalMs?: number;
  /** When the observed value is good enough; by default any truthy value. */
  until?: (value: T) => boolean;
}

/**
 * Polls `probe` until `until` accepts what it returned. Errors from the probe count as "not yet"
 * (the object may not exist yet). On timeout the error names what was awaited and the last thing
 * seen, so a failing e2e says why without a rerun.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T> | T,
  { timeoutMs = 60_000, intervalMs = 500, until = Boolean }: WaitForOptions<T> = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${description}; ${describe(last)}`);
    }
    await sleep(intervalMs);
  }
}

function describe(last: { value: unknown } | { error: unknown } | undefined): string {
  if (last === undefined) return 'the probe never returned';
  if ('error' in last) {
    return `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`;
  }
  const text = JSON.stringify(last.value) ?? String(last.value);
  return `last value: ${text.length > 1000 ? `${text.slice(0, 1000)}…` : text}`;
}
