// How late this thread's event loop runs what is due: when it is saturated (reading bodies,
// answering), a request waits before the server even sees it, its answer waits to be sent, and
// timers fire late. Deadline admission adds this lag, so an overloaded server refuses earlier
// instead of answering late, and so do the timers that answer a request before its deadline.
// perf_hooks samples the loop every RESOLUTION_MS; the lag is the longest that a sample came
// later than that, over the last full window and the one under way: a timer that must fire
// before a deadline is planned with the worst lag seen, not a typical one (in the overload bench,
// with the 99th percentile, the 504s of requests whose batch ran long left 10-40 ms late).
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

export class LoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastMs = 0;

  /** Samples for the life of the process (the timer does not keep it alive). */
  constructor(windowMs = 1000) {
    this.histogram.enable();
    setInterval(() => {
      this.lastMs = this.currentMs();
      this.histogram.reset();
    }, windowMs).unref();
  }

  /** The longest lag over the last full window and the current one, ms (0 before any). */
  get ms(): number {
    return Math.max(this.lastMs, this.currentMs());
  }

  private currentMs(): number {
    return Math.max(0, this.histogram.max / 1e6 - RESOLUTION_MS);
  }
}
