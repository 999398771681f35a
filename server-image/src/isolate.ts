// One bad request must not fail the requests it was batched with. A failed run of several
// requests is rerun in halves, and those halves in halves, until each failure is pinned on the
// requests that cause it: one bad request among n costs about 2·log2(n) extra runs, and a batch
// too big for the device's memory gets smaller batches that may fit.

/**
 * Runs `items` with `run`; each item gets its output or the error it alone met. Errors for which
 * `splittable` is false (a fault of the batch, not of an item) are given to every item of the run.
 */
export async function runIsolated<I, O>(
  items: readonly I[],
  run: (items: readonly I[]) => Promise<O[]>,
  splittable: (err: Error) => boolean = () => true,
): Promise<Array<O | Error>> {
  try {
    return await run(items);
  } catch (thrown) {
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    if (items.length === 1 || !splittable(err)) return items.map(() => err);
    const half = Math.ceil(items.length / 2);
    return [
      ...(await runIsolated(items.slice(0, half), run, splittable)),
      ...(await runIsolated(items.slice(half), run, splittable)),
    ];
  }
}
