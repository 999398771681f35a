// Server processes a benchmark starts: a free loopback port (and the next, for /metrics),
// readiness polling, and stopping them all, also when the benchmark itself is interrupted or
// crashes (an 'exit' handler also runs after an uncaught error, e.g. EPIPE on a closed stdout).
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/**
 * A free loopback port whose next port is free too: the benches serve /metrics on the one after
 * the server's. Both are held while checked, so neither is one the other call just handed out.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const first = await listenOn(0);
    const port = (first.address() as AddressInfo).port;
    const next = port < 65535 ? await listenOn(port + 1).catch(() => undefined) : undefined;
    await Promise.all([first, next].map((s) => s && new Promise((r) => s.close(r))));
    if (next) return port;
    if (tries >= 20) throw new Error('no free pair of loopback ports after 20 tries');
  }
}

function listenOn(port: number): Promise<Server> {
  const srv = createServer();
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** Polls until the URL answers 200 (or, with anyAnswer, answers at all). */
export async function waitReady(url: string, child: ChildProcess, anyAnswer: boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await fetch(url).then(
      (r) => anyAnswer || r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url}`);
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

/** Remembers a server to stop when the benchmark exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
