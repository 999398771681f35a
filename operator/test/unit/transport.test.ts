// The shared transport against a loopback HTTPS stub that counts TLS connections and records the
// Authorization header of every request: client-node's own clients above it, real undici and TLS
// below. The stub's certificate is made with openssl for the test.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiConfiguration, OPEN_GATE, type WriteGate } from '../../src/controller/api-clients.ts';
import { SharedTransport } from '../../src/controller/transport.ts';

let dir: string;
let server: Server;
let url: string;
let tlsConnections = 0;
const auth: string[] = [];
const agents: string[] = [];
const methods: string[] = [];
let inFlight = 0;
let maxInFlight = 0;
/** While set, GETs are answered only once it resolves (a slow call holding a pooled connection). */
let holdGets: Promise<void> | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'transport-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'other-key.pem'),
      '-out',
      join(dir, 'other.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=other',
    ],
    { stdio: 'ignore' },
  );
  server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      auth.push(req.headers.authorization ?? '');
      agents.push(req.headers['user-agent'] ?? '');
      methods.push(req.method ?? '');
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const held = req.method === 'GET' ? holdGets : undefined;
      // A little latency so that parallel requests overlap.
      setTimeout(async () => {
        await held;
        inFlight -= 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceList', metadata: {}, items: [] }));
      }, 2);
    },
  );
  server.on('secureConnection', () => (tlsConnections += 1));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function kubeConfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'stub', server: url, caFile: join(dir, 'cert.pem') }],
    users: [{ name: 'op', ...user }],
    contexts: [{ name: 'stub', cluster: 'stub', user: 'op' }],
    currentContext: 'stub',
  });
  return kc;
}

async function parallel(n: number, width: number, fn: () => Promise<unknown>): Promise<void> {
  let left = n;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (left-- > 0) await fn();
    }),
  );
}

describe('the shared transport', () => {
  test('300 calls, 16 at a time, share at most 8 keep-alive TLS connections (client-node alone opens one per call)', async () => {
    const kc = kubeConfig({ token: 'static' });
    const transport = new SharedTransport(kc, { maxConnections: 8 });
    const core = new CoreV1Api(apiConfiguration(kc, OPEN_GATE, 'op-a', undefined, transport));
    const before = tlsConnections;
    maxInFlight = 0;
    await parallel(300, 16, () => core.listNamespacedService({ namespace: 'ml' }));
    expect(tlsConnections - before).toBeLessThanOrEqual(8);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(agents.at(-1)).toBe('servingstack-operator/op-a');
    expect(auth.at(-1)).toBe('Bearer static');
    await transport.close();

    // What the transport replaces: client-node's own authentication, a new connection per call.
    const plain = new CoreV1Api(apiConfiguration(kc, OPEN_GATE, 'op-a'));
    const mark = tlsConnections;
    await parallel(20, 4, () => plain.listNamespacedService({ namespace: 'ml' }));
    expect(tlsConnections - mark).toBe(20);
  });

  test('a rotated token file is sent once the refresh period has passed, on the same connections', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'token-1\n');
    let now = 0;
    const kc = kubeConfig({ authProvider: { name: 'tokenFile', config: { tokenFile } } });
    const transport = new SharedTransport(kc, { refreshMs: 1_000, now: () => now });
    const core = new CoreV1Api(apiConfiguration(kc, OPEN_GATE, 'op-a', undefined, transport));
    const before = tlsConnections;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(auth.at(-1)).toBe('Bearer token-1');

    writeFileSync(tokenFile, 'token-2\n'); // the kubelet rotates the projected token
    now = 999;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(auth.at(-1)).toBe('Bearer token-1'); // still within the refresh period
    now = 1_000;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(auth.at(-1)).toBe('Bearer token-2');
    // Changing it back is seen too (no memo of "the" token).
    writeFileSync(tokenFile, 'token-1');
    now = 2_000;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(auth.at(-1)).toBe('Bearer token-1');
    // A token is a header: the pool was not rebuilt and connections were kept (4 calls; undici
    // opens a second connection right after the first answer of a fresh one, then reuses them).
    expect(transport.builds).toBe(1);
    expect(tlsConnections - before).toBeLessThanOrEqual(2);
    await transport.close();
  });

  test('a changed CA or client certificate rebuilds the pool; an unchanged one keeps it', async () => {
    let now = 0;
    const ca = join(dir, 'ca-copy.pem');
    writeFileSync(ca, readFileSync(join(dir, 'cert.pem')));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'stub', server: url, caFile: ca }],
      users: [{ name: 'op', token: 't' }],
      contexts: [{ name: 'stub', cluster: 'stub', user: 'op' }],
      currentContext: 'stub',
    });
    const transport = new SharedTransport(kc, { refreshMs: 1_000, now: () => now });
    const core = new CoreV1Api(apiConfiguration(kc, OPEN_GATE, 'op-a', undefined, transport));
    await core.listNamespacedService({ namespace: 'ml' });
    now = 5_000;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(transport.builds).toBe(1);
    // The same CA with a trailing newline is different bytes: a new pool, and it still verifies.
    writeFileSync(ca, `${readFileSync(join(dir, 'cert.pem'), 'utf8')}\n`);
    now = 10_000;
    const before = tlsConnections;
    await core.listNamespacedService({ namespace: 'ml' });
    expect(transport.builds).toBe(2);
    expect(tlsConnections - before).toBe(1);
    // A CA that does not sign the server's certificate: the next pool refuses the server.
    writeFileSync(ca, readFileSync(join(dir, 'other.pem')));
    now = 20_000;
    await expect(core.listNamespacedService({ namespace: 'ml' })).rejects.toThrow();
    expect(transport.builds).toBe(3);
    await transport.close();
  });

  test('a write queued behind a busy pool does not leave the process once leadership is lost', async () => {
    const kc = kubeConfig({ token: 't' });
    const transport = new SharedTransport(kc, { maxConnections: 1 });
    let leading = true;
    const gate: WriteGate = {
      check: () => {
        if (!leading) throw new Error('not the leader');
      },
    };
    const core = new CoreV1Api(apiConfiguration(kc, gate, 'op-a', undefined, transport));
    await core.listNamespacedService({ namespace: 'ml' }); // the one connection is open
    let release: () => void = () => {};
    holdGets = new Promise<void>((r) => (release = r));
    const mark = methods.length;
    const slow = core.listNamespacedService({ namespace: 'ml' });
    while (methods.length === mark) await new Promise((r) => setTimeout(r, 1));
    // Leading when it is asked for: it passes the gate, then waits for the pool's only connection.
    const write = core.deleteNamespacedService({ name: 'sentiment-latency', namespace: 'ml' });
    const settled = write.then(
      () => 'sent',
      // fetch rejects with the gate's refusal as its cause.
      (err: unknown) => `${String(err)}: ${String((err as Error).cause)}`,
    );
    await new Promise((r) => setTimeout(r, 20));
    leading = false; // the lease is lost while it waits
    release();
    holdGets = undefined;
    await slow;
    expect(await settled).toContain('not the leader');
    expect(methods.slice(mark)).toEqual(['GET']);
    // Reads still go (a standby reads), on the same pool.
    await core.listNamespacedService({ namespace: 'ml' });
    expect(methods.at(-1)).toBe('GET');
    await transport.close();
  });

  test('a token rotated while a call is out: that call ends with the token it was sent with, the next one sends the new one', async () => {
    const tokenFile = join(dir, 'token-inflight');
    writeFileSync(tokenFile, 'old\n');
    let now = 0;
    const kc = kubeConfig({ authProvider: { name: 'tokenFile', config: { tokenFile } } });
    const transport = new SharedTransport(kc, { refreshMs: 1_000, now: () => now });
    const core = new CoreV1Api(apiConfiguration(kc, OPEN_GATE, 'op-a', undefined, transport));
    let release: () => void = () => {};
    holdGets = new Promise<void>((r) => (release = r));
    const mark = auth.length;
    const first = core.listNamespacedService({ namespace: 'ml' });
    while (auth.length === mark) await new Promise((r) => setTimeout(r, 1));
    writeFileSync(tokenFile, 'new\n');
    now = 1_000;
    holdGets = undefined;
    const second = core.listNamespacedService({ namespace: 'ml' });
    await second;
    release();
    await first;
    expect(auth.slice(mark)).toEqual(['Bearer old', 'Bearer new']);
    expect(transport.builds).toBe(1);
    await transport.close();
  });
});
