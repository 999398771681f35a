// Raw session.run in a process of its own. The benchmark's own process generates the load and
// is full of its garbage; timing session.run there would charge the load generator's garbage
// collection to the raw baseline. Here the session has a process to itself, as a raw baseline
// should, and runs slices on request (over the IPC channel) between the servers' rounds.
//
// Parent side: RawProcess.start(modelFile, rowShape). Child side: this file run by node with
// an IPC channel (it is started that way by RawProcess).
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildRequest, RawConnection } from './raw-http.ts';
import { RawSession } from './raw-session.ts';
import type { RawSlice } from './raw-session.ts';

/** A loopback round trip to wait between runs (the pause a server has at one client). */
export interface RoundTrip {
  url: string;
  headers: Record<string, string>;
  /** The request body, base64 (IPC messages are JSON). */
  body: string;
}

interface SliceRequest {
  id: number;
  batch: number;
  seconds: number;
  between?: RoundTrip;
}

type SliceReply = { id: number; slice: RawSlice } | { id: number; error: string };

export class RawProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (reply: SliceReply) => void>();
  private nextId = 1;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (reply: SliceReply) => {
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
  }

  static async start(modelFile: string, rowShape: number[]): Promise<RawProcess> {
    const child = fork(fileURLToPath(import.meta.url), [modelFile, JSON.stringify(rowShape)], {
      env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`raw session process exited with ${code}`)));
    });
    return new RawProcess(child);
  }

  measure(batch: number, seconds: number, between?: RoundTrip): Promise<RawSlice> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) =>
        'slice' in reply ? resolve(reply.slice) : reject(new Error(reply.error)),
      );
      this.child.send({ id, batch, seconds, ...(between && { between }) } satisfies SliceRequest);
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}

async function serveSlices(): Promise<void> {
  const [modelFile, rowShape] = process.argv.slice(2);
  const session = await RawSession.open(modelFile!, JSON.parse(rowShape!) as number[]);
  const connections = new Map<string, RawConnection>();
  process.on('message', (req: SliceRequest) => {
    void (async () => {
      let between: (() => Promise<unknown>) | undefined;
      if (req.between) {
        const { url, headers, body } = req.between;
        const connection = connections.get(url) ?? (await RawConnection.open(new URL(url)));
        connections.set(url, connection);
        const request = buildRequest(new URL(url), headers, Buffer.from(body, 'base64'));
        between = () => connection.send(request);
      }
      return session.measure(req.batch, req.seconds, between);
    })().then(
      (slice) => process.send!({ id: req.id, slice } satisfies SliceReply),
      (err: unknown) => process.send!({ id: req.id, error: String(err) } satisfies SliceReply),
    );
  });
  // The parent disconnects when it is done: release everything and let the process end.
  process.on('disconnect', () => {
    for (const c of connections.values()) c.close();
    void session.close();
  });
  process.send!('ready');
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) await serveSlices();
