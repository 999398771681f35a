import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from '../support/paths.ts';

// The demo's wait for Prometheus before its burst (pools_with_requests in e2e/cluster/common.sh):
// bounded, and a Prometheus that does not answer stops it with a message naming Prometheus, not
// 30 parse errors and a warning about missing requests. The Prometheus stand-ins are FAKES on
// loopback: one answering the query API's shape, one that accepts and never answers, a closed port.

function pools(prometheus: string, tries: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const common = join(repoRoot, 'e2e', 'cluster', 'common.sh');
  return new Promise((resolve) => {
    execFile(
      'bash',
      // The function comes from common.sh: bash runs it as `"$@"`, so the command scan, which reads
      // this call, does not take it for a program the machine must have.
      ['-c', 'source "$0"\n"$@"', common, 'pools_with_requests', prometheus, 'sentiment', '2', String(tries)],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout: stdout.trim(), stderr }),
    );
  });
}

let answering: Server;
let silent: ReturnType<typeof createTcpServer>;
const held: Socket[] = [];
const url = (s: { address(): AddressInfo | string | null }) =>
  `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

beforeAll(async () => {
  answering = createServer((req, res) => {
    const query = new URL(req.url ?? '', 'http://x').searchParams.get('query') ?? '';
    const value = query.includes('servingstack="sentiment"') ? '2' : '0';
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [0, value] }] },
      }),
    );
  });
  silent = createTcpServer((socket) => held.push(socket));
  await Promise.all([
    new Promise<void>((r) => answering.listen(0, '127.0.0.1', r)),
    new Promise<void>((r) => silent.listen(0, '127.0.0.1', r)),
  ]);
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await Promise.all([new Promise((r) => answering.close(r)), new Promise((r) => silent.close(r))]);
});

describe('pools_with_requests (the demo waits for Prometheus)', () => {
  it("prints how many of the stack's pools Prometheus has requests of", async () => {
    expect(await pools(url(answering), 3)).toMatchObject({ code: 0, stdout: '2' });
  }, 60_000);

  it('stops with an error naming Prometheus when nothing listens', async () => {
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const address = url(closed);
    await new Promise((r) => closed.close(r));
    const r = await pools(address, 2);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: Prometheus at ${address} did not answer in 2 tries`);
    expect(r.stderr).not.toMatch(/SyntaxError/);
  }, 60_000);

  it('gives up on a Prometheus that accepts the connection and never answers', async () => {
    const r = await pools(url(silent), 1);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not answer in 1 tries \(last: curl: \(28\)/);
  }, 60_000);
});
