// A clock and timers that move only when a test moves them, so deadlines, backoffs and lease
// expiry are tested without sleeping. `jump` moves the clock without firing timers: what a paused
// process (SIGSTOP, a long GC pause) sees when it runs again.

export class ManualClock {
  private t: number;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly delays: number[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }

  now = (): number => this.t;
  wall = (): number => this.t;
  date = (): Date => new Date(this.t);

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.next++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    this.delays.push(ms);
    return id;
  };

  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };

  /** Moves the clock by `ms`, firing due timers in order, and lets promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await settle();
  }

  /** Moves the clock without firing anything (a process that was paused). */
  jump(ms: number): void {
    this.t += ms;
  }

  get pending(): number {
    return this.timers.size;
  }
}

/** Lets every promise chain that can run now run to its next real wait. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
