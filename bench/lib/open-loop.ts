// Open-loop load: requests go out on a schedule, whatever the server answers, as independent
// callers would send them (a closed loop slows down with the server and never overloads it).
// Each request is timed from when it was due, so a late send counts against the server
// (coordinated omission). Connections come from a pool that grows as requests overlap.
import { prng } from '../../server-image/src/models/mlp.ts';
import { buildRequest, RawConnection } from './raw-http.ts';
import type { Payload } from './load.ts';

export interface Scheduled {
  /** When to send, ms after the start. */
  atMs: number;
  /** Index into the kinds of request (prebuilt: a kind's bytes are built once). */
  kind: number;
}

export interface Outcome {
  kind: number;
  /** HTTP status; 0 when the connection failed. */
  status: number;
  /** From when the request was due to its whole answer, ms. */
  latencyMs: number;
  /** How late the load generator wrote it (waiting for a connection, or for its own CPU), ms. */
  sendLagMs: number;
}

/** Sends `schedule` (sorted by time), each request `kinds[kind]`, and resolves with every outcome. */
export async function openLoop(
  url: string,
  kinds: readonly Payload[],
  schedule: readonly Scheduled[],
  maxConnections = 1024,
): Promise<Outcome[]> {
  const target = new URL(url);
  const requests = kinds.map((k) => buildRequest(target, k.headers, k.body));
  const free: RawConnection[] = [];
  let open = 0;
  const waiting: ((c: RawConnection) => void)[] = [];
  const take = async (): Promise<RawConnection> => {
    const c = free.pop();
    if (c) return c;
    if (open < maxConnections) {
      open++;
      return RawConnection.open(target);
    }
    return new Promise((r) => waiting.push(r));
  };
  const give = (c: RawConnection) => {
    // A server may close a connection after a refusal it sent before reading the body.
    if (c.closed) {
      open--;
      const next = waiting.shift();
      if (next) {
        open++;
        void RawConnection.open(target).then(next);
      }
      return;
    }
    const next = waiting.shift();
    if (next) next(c);
    else free.push(c);
  };

  const outcomes: Outcome[] = [];
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  const send = async (s: Scheduled) => {
    const due = start + s.atMs;
    const connection = await take();
    const sendLagMs = performance.now() - due;
    let status = 0;
    try {
      status = await connection.send(requests[s.kind]!);
      give(connection);
    } catch {
      connection.close();
      open--;
    }
    outcomes.push({ kind: s.kind, status, latencyMs: performance.now() - due, sendLagMs });
  };
  let i = 0;
  while (i < schedule.length) {
    const now = performance.now() - start;
    while (i < schedule.length && schedule[i]!.atMs <= now) inFlight.push(send(schedule[i++]!));
    // Wake for the next due request; timers are coarse, so a few go out together.
    if (i < schedule.length) await new Promise((r) => setTimeout(r, Math.max(0, schedule[i]!.atMs - now)));
  }
  await Promise.all(inFlight);
  for (const c of free) c.close();
  return outcomes;
}

/** Poisson arrivals at `perSecond` for `seconds`, each of a kind drawn by `pickKind`. */
export function poissonSchedule(
  perSecond: number,
  seconds: number,
  pickKind: (rnd: () => number) => number,
  seed = 1,
): Scheduled[] {
  const rnd = prng(seed);
  const out: Scheduled[] = [];
  for (let t = 0; ;) {
    t += (-Math.log(1 - rnd()) / perSecond) * 1000;
    if (t >= seconds * 1000) return out;
    out.push({ atMs: t, kind: pickKind(rnd) });
  }
}
