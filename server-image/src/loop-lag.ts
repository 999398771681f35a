// How late this thread's event loop runs what is due: when it is saturated (reading bodies,
// answering), a request waits before the server even sees it, its answer waits to be sent, and
// timers fire late. Deadline admission adds this lag, so an overloaded server refuses earlier
// instead of answering late. perf_hooks samples the loop every RESOLUTION_MS; the lag is the
// 99th percentile of how much later than that the samples came, over the last full window.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

export class LoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastMs = 0;

  /** Samples for the life of the process (the timer does not keep it alive). */
  constructor(windowMs = 1000) {
    this.histogram.enable();
    setInterval(() => {
      this.lastMs = Math.max(0, this.histogram.percentile(99) / 1e6 - RESOLUTION_MS);
      this.histogram.reset();
    }, windowMs).unref();
  }

  /** The lag over the last window, ms (0 before the first). */
  get ms(): number {
    return this.lastMs;
  }
}
