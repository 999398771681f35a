// Graceful drain on SIGTERM, apart from server.ts so tests run it against real sockets.
//
// Behind a router that pools connections, an HTTP server's close() is not enough: it closes
// the sockets idle at that moment, but a socket busy then goes idle after its response and
// stays open until the keep-alive timeout (65 s here), so every pod exit would take the whole
// grace period and end in SIGKILL. While draining, every response says `Connection: close`
// (the app's onSend hook), so a socket closes right after its last answer; sockets idle when
// the drain starts are closed at once. Requests that still arrive on an open socket (a router
// that has not yet seen the pod leave) are served, not refused.
import type { FastifyInstance } from 'fastify';
import type { ServerState } from './app.ts';

export interface Drainable {
  /** Stops taking requests; resolves when nothing is queued and nothing is running. */
  close(): Promise<void>;
}

export interface DrainDeps {
  app: FastifyInstance;
  batcher: Drainable;
  state: ServerState;
  /** The whole drain must fit in this (the grace period less preStop and a margin). */
  budgetMs: number;
}

export type DrainOutcome = 'drained' | 'timed-out';

/**
 * Turns readiness off, lets requests in flight and queued finish, closes every connection, and
 * resolves 'drained' once the listener, every socket and the batcher are done; 'timed-out'
 * (with every socket destroyed) if that took longer than the budget.
 */
export async function drain({ app, batcher, state, budgetMs }: DrainDeps): Promise<DrainOutcome> {
  state.draining = true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<DrainOutcome>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), budgetMs);
  });
  // app.close stops listening, closes the idle sockets, and resolves once every request in
  // flight has been answered (queued ones included: they wait on the batcher) and every socket
  // has closed. The batcher then still has to finish batches whose callers went away.
  const done = (async (): Promise<DrainOutcome> => {
    await app.close();
    await batcher.close();
    return 'drained';
  })();
  const outcome = await Promise.race([done, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timed-out') app.server.closeAllConnections();
  return outcome;
}
