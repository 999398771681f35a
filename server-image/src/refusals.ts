// Why the batcher or the model did not answer a request with a result, as domain errors. The
// scheduling and model code never speak HTTP: the edge (errors.ts, used by app.ts) turns each
// kind into the status a client should see, chosen so that clients do not retry blindly.
export type RefusalKind =
  /** The queue holds as many rows as it may; retry later (after `retryAfterSeconds`). */
  | 'queue-full'
  /** The server is draining; retry on another replica. */
  | 'draining'
  /** The request's deadline cannot be met; retrying the same request will not help. */
  | 'deadline'
  /** The request holds more rows than one batch may. */
  | 'too-many-rows'
  /** The model rejected the request's input (shape, zero-size dimension, out-of-range id...). */
  | 'bad-input'
  /** The client went away before the request ran. */
  | 'cancelled';

export class Refusal extends Error {
  readonly kind: RefusalKind;
  /** For 'queue-full' and 'draining': when a retry may succeed, in whole seconds. */
  readonly retryAfterSeconds: number | undefined;
  constructor(kind: RefusalKind, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'Refusal';
    this.kind = kind;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const queueFull = (maxRows: number, retryAfterSeconds: number) =>
  new Refusal(
    'queue-full',
    `server busy: the request queue is full (${maxRows} rows); retry later`,
    retryAfterSeconds,
  );

export const deadlineUnmet = (why: string) =>
  new Refusal('deadline', `request deadline cannot be met: ${why}`);

export const shuttingDown = () =>
  new Refusal('draining', 'server is shutting down; retry on another replica', 1);

export const cancelled = () => new Refusal('cancelled', 'the client closed the connection');
