// Sorting failures into what a retry can fix and what it cannot (CONVENTIONS: errors classified).
import { ApiException } from '@kubernetes/client-node';

export type ErrorClass =
  /** The object is gone: nothing to do. */
  | 'notFound'
  /** The kind is not served (e.g. Gateway API not installed): report, retry slowly. */
  | 'missingKind'
  /** The API server refused the object as invalid or forbidden: report, do not retry hot. */
  | 'rejected'
  /** Anything else (network, 5xx, 429, timeouts): rethrow, the work queue backs off. */
  | 'transient';

export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export function classify(err: unknown): ErrorClass {
  const code = statusCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.startsWith('Failed to fetch resource metadata') && code === 404) return 'missingKind';
  if (msg.startsWith('Unrecognized API version and kind')) return 'missingKind';
  if (code === 404) return 'notFound';
  if (code === 400 || code === 403 || code === 422) return 'rejected';
  return 'transient';
}

/** The API server's own message (Status.message) when there is one: it names the field at fault. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let parsed: unknown = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        return body.slice(0, 500);
      }
    }
    if (typeof parsed === 'object' && parsed !== null && 'message' in parsed) {
      return String((parsed as { message: unknown }).message).slice(0, 500);
    }
    return `HTTP ${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}
