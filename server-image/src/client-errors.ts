// Answers to requests that Node's HTTP parser refuses before fastify sees them (a malformed
// Content-Length, Content-Length together with chunked encoding, a body or headers that stall
// past the request timeout, headers too large). They get the protocol's error shape, the
// content type clients check for (exactly `application/json`: KServe's client reads the
// message only then) and X-Serving-Pool, like every answer the app sends.
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface ParserError extends Error {
  code?: string;
  /** llhttp's description of what was wrong, e.g. "Invalid character in Content-Length". */
  reason?: string;
}

/** Status and message for an error Node raised on the connection. */
export function clientErrorAnswer(err: ParserError): { status: number; message: string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, message: 'request timed out: its headers or body did not arrive in time' };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, message: 'request headers too large' };
  }
  if (err.code === 'HPE_INVALID_EOF_STATE') {
    return { status: 400, message: 'malformed HTTP request: the connection ended before the request did' };
  }
  const reason = err.reason ?? err.message;
  return { status: 400, message: `malformed HTTP request: ${reason.replace(/\.$/, '')}` };
}

/** The raw HTTP/1.1 answer, closing the connection (its framing can no longer be trusted). */
export function clientErrorResponse(status: number, message: string, pool: string): string {
  const body = JSON.stringify({ error: message });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Serving-Pool: ${pool}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** A fastify `clientErrorHandler` for the pool. */
export function clientErrorHandler(pool: string) {
  return (err: ParserError, socket: Socket): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // As Node's own handler: write only where no answer has started on this connection.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inProgress?.headersSent) {
      const { status, message } = clientErrorAnswer(err);
      // Destroyed once written: a client that keeps its side open holds nothing here.
      socket.end(clientErrorResponse(status, message, pool), () => socket.destroy());
      return;
    }
    socket.destroy(err);
  };
}

/**
 * A `checkExpectation` listener: without one Node answers an `Expect` other than 100-continue
 * with a bare 417 (no body, no pool) before any request reaches the app.
 */
export function expectationHandler(pool: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const body = JSON.stringify({
      error: `cannot meet Expect '${String(req.headers.expect)}': this server meets only 100-continue`,
    });
    res.writeHead(417, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-serving-pool': pool,
    });
    res.end(body);
  };
}
