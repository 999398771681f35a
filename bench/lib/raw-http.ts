// A lean HTTP/1.1 keep-alive client for load generation: the request bytes are built once and
// written as they are; the answer is read just far enough to know its status and where it ends
// (Content-Length). On a 2-core machine the load generator shares the CPUs with the server, so
// every microsecond node:http's client spends per request is taken from the server under test;
// dedicated load generators (wrk, h2load) work this way for the same reason.
import { connect } from 'node:net';
import type { Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

/** One request, serialised once: request line, headers and body. */
export function buildRequest(url: URL, headers: Record<string, string>, body: Buffer): Buffer {
  const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push(`content-length: ${body.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n')), body]);
}

/**
 * Status code and body length of a response head; length undefined for a chunked body (it ends
 * with the last-chunk marker), an error naming what was wrong for anything else.
 */
function parseHead(head: string): { status: number; length: number | undefined } {
  const status = Number(head.slice(9, 12));
  const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (match) return { status, length: Number(match[1]) };
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return { status, length: undefined };
  throw new Error(`response with neither content-length nor chunked body: ${head.split('\r\n')[0]}`);
}

/** One keep-alive connection sending a prebuilt request and waiting for each answer in turn. */
export class RawConnection {
  private readonly socket: Socket;
  private pending: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;
  private chunks: Buffer[] = [];
  private received = 0;
  /** What the answer being read looks like: its status and total size (undefined: chunked). */
  private expected: { status: number; total: number | undefined } | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  static open(url: URL): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends the request and resolves with the answer's status once its whole body has arrived. */
  send(request: Buffer): Promise<number> {
    if (this.pending) throw new Error('one request at a time per connection');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** The server (or close()) ended this connection: it cannot send again. */
  get closed(): boolean {
    return this.socket.destroyed || this.socket.readyState !== 'open';
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (!this.expected) {
      const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      const end = all.indexOf(HEADER_END);
      if (end < 0) return;
      try {
        const { status, length } = parseHead(all.toString('latin1', 0, end));
        this.expected = {
          status,
          total: length === undefined ? undefined : end + HEADER_END.length + length,
        };
      } catch (err) {
        this.fail(err as Error);
        return;
      }
    }
    if (!this.complete(chunk)) return;
    const { status } = this.expected;
    this.chunks = [];
    this.received = 0;
    this.expected = undefined;
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(status);
  }

  private complete(last: Buffer): boolean {
    const total = this.expected?.total;
    if (total !== undefined) return this.received >= total;
    const tail = last.length >= LAST_CHUNK.length ? last : Buffer.concat(this.chunks);
    return tail.subarray(tail.length - LAST_CHUNK.length).equals(LAST_CHUNK);
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }
}
