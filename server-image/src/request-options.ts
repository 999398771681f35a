// What a request's headers ask of the batcher: a deadline (the timeout header, the same one the
// router reads) and a priority (the priority header: the stack's real-time value goes first, its
// batch value last, anything else between). Header names and values are the stack's routing
// settings, which the operator passes on.
import type { Config } from './config.ts';
import { RequestError } from './errors.ts';
import type { Priority } from './request-queue.ts';

export type HeaderSettings = Pick<
  Config,
  'timeoutHeader' | 'priorityHeader' | 'realTimePriority' | 'batchPriority'
>;

type Headers = Record<string, string | string[] | undefined>;

/** A header's value; the first one when a client sent it more than once. */
export function firstHeader(raw: string | string[] | undefined): string | undefined {
  return Array.isArray(raw) ? raw[0] : raw;
}

export function priorityOf(headers: Headers, settings: HeaderSettings): Priority {
  const value = firstHeader(headers[settings.priorityHeader.toLowerCase()])?.trim();
  if (value === settings.realTimePriority) return 'real-time';
  if (value === settings.batchPriority) return 'batch';
  return 'default';
}

/**
 * The absolute deadline, counted from `arrivedAt` (when the request began to arrive: reading its
 * body is part of its time), or undefined without the header.
 */
export function deadlineOf(
  headers: Headers,
  settings: HeaderSettings,
  arrivedAt: number,
): number | undefined {
  const raw = headers[settings.timeoutHeader.toLowerCase()];
  if (raw === undefined) return undefined;
  const value = firstHeader(raw);
  const ms = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(ms) || ms < 0) {
    throw new RequestError(
      400,
      `${settings.timeoutHeader} must be a non-negative number of milliseconds, got '${value}'`,
    );
  }
  return arrivedAt + ms;
}
