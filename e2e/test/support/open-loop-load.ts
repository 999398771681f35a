import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_MODEL } from '../../agent/testing/stack.ts';
import { callRouter, percentile } from '../../agent/testing/traffic.ts';

export interface OpenLoopOptions {
  /** The stack's host (Host header). */
  host: string;
  priority: 'real-time' | 'batch';
  ratePerS: number;
  /** In flight at most; a request due while that many are out is not sent (dropped). */
  maxInFlight: number;
  /** The schedule ends after this long, if stop() has not ended it before. */
  maxSeconds: number;
  /** Rows per request (1 unless given). */
  rows?: number;
}

/**
 * Open-loop load through the router: requests start every 1/`ratePerS` seconds whether or not
 * earlier ones were answered, as independent callers would send them, so a pool that falls behind
 * builds a queue instead of slowing the load down. Bounded by `maxSeconds` and `maxInFlight`, and
 * stopped by `stop()`. Counts answers by the X-Serving-Pool that served them, and keeps the
 * client-side latencies for the log.
 */
export class OpenLoopLoad {
  readonly byPool = new Map<string, number>();
  readonly latenciesMs: number[] = [];
  sent = 0;
  dropped = 0;
  /** False once the schedule has ended (stopped, or past its time bound). */
  running = true;
  private inFlight = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly agent: Agent;
  private readonly o: OpenLoopOptions;

  constructor(o: OpenLoopOptions) {
    this.o = o;
    this.agent = new Agent({ keepAlive: true, maxSockets: o.maxInFlight });
    const call = {
      host: o.host,
      model: TEST_MODEL.name,
      headers: { 'X-Serving-Priority': o.priority },
      ...(o.rows !== undefined && { rows: o.rows }),
    };
    const calls: Promise<void>[] = [];
    const schedule = async () => {
      const started = Date.now();
      for (let n = 0; n < o.ratePerS * o.maxSeconds && !this.stopped; n++) {
        await sleep(Math.max(0, started + (n * 1000) / o.ratePerS - Date.now()));
        if (this.stopped) break;
        if (this.inFlight >= o.maxInFlight) {
          this.dropped++;
          continue;
        }
        this.inFlight++;
        this.sent++;
        calls.push(
          callRouter(call, this.agent, n).then((outcome) => {
            this.inFlight--;
            const pool = outcome.pool ?? (outcome.status === 0 ? 'no-answer' : 'none');
            this.byPool.set(pool, (this.byPool.get(pool) ?? 0) + 1);
            if (outcome.status === 200) this.latenciesMs.push(outcome.ms);
          }),
        );
      }
      this.running = false;
      await Promise.all(calls);
    };
    this.done = schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.agent.destroy();
  }

  summary(): string {
    const sorted = [...this.latenciesMs].sort((x, y) => x - y);
    const p95 = percentile(sorted, 0.95).toFixed(1);
    return (
      `${this.sent} sent, ${this.dropped} dropped (${this.o.maxInFlight} in flight), answers by pool ` +
      `${JSON.stringify(Object.fromEntries(this.byPool))}, client-side p95 ${p95} ms over the whole run`
    );
  }
}
