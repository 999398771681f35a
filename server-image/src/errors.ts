// Errors that carry the HTTP status a caller should see. Anything else reaching the error
// handler is a bug or a runtime failure and is answered as a generic 500.
import type { Refusal, RefusalKind } from './refusals.ts';

export class RequestError extends Error {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'RequestError';
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

export const badRequest = (message: string) => new RequestError(400, message);

/**
 * The status a client sees for a refusal, chosen so that clients do not retry blindly: 503 with
 * Retry-After when a retry later (or elsewhere) may succeed, 504 when the deadline cannot be met
 * (the same request will not make it on retry), 400 for input the server or the model rejects.
 * 499 (the client closed the request) is only ever seen in logs and metrics.
 */
const REFUSAL_STATUS: Record<RefusalKind, number> = {
  'queue-full': 503,
  draining: 503,
  deadline: 504,
  'too-many-rows': 400,
  'bad-input': 400,
  cancelled: 499,
};

export function fromRefusal(r: Refusal): RequestError {
  return new RequestError(
    REFUSAL_STATUS[r.kind],
    r.message,
    r.retryAfterSeconds === undefined ? {} : { 'retry-after': String(r.retryAfterSeconds) },
  );
}

/**
 * The message for a 4xx that fastify raised (its codes are FST_ERR_*): one that names what was
 * wrong and, for a body over the limit, the limit.
 */
export function frameworkMessage(err: Error & { code?: string }, maxBodyBytes: number): string {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body too large: this server takes at most ${maxBodyBytes} bytes`;
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'request body size does not match its Content-Length';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `unsupported Content-Type: ${err.message}`;
    default:
      return err.message;
  }
}
