// A manual clock for the batcher: time moves only when a test calls advance().
import type { Clock } from '../../src/batcher.ts';

interface Timer {
  at: number;
  fn: () => void;
  id: number;
}

export class FakeClock implements Clock {
  private t = 0;
  private timers: Timer[] = [];
  private nextId = 1;
  /**
   * How early timers fire by the clock's own reading, as Node's can: its timers run on the event
   * loop's cached millisecond time, which lags performance.now().
   */
  private readonly earlyMs: number;
  /** How late timers fire, as on a saturated event loop that runs what is due only when it can. */
  lateMs = 0;

  constructor(earlyMs = 0) {
    this.earlyMs = earlyMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + Math.max(0, ms) + this.lateMs, fn, id: this.nextId++ };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at - this.earlyMs);
      due.fn();
      this.t = Math.max(this.t, due.at);
    }
    this.t = end;
  }
}

/** Lets promise callbacks (batch completions, resolutions) run. */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};
