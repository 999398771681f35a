// Errors that carry the HTTP status a caller should see. Anything else reaching the error
// handler is a bug or a runtime failure and is answered as a generic 500.

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
