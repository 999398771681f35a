import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

// The operator as a local process (`node operator/src/main.ts`), for e2e suites that need it to
// reconcile with credentials of their choosing and to read its own metrics. Its probes are off and
// its metrics listen on a free loopback port, so several can run side by side.

export interface LocalOperatorOptions {
  /** The kubeconfig it runs with: the admin one, or one made from a ServiceAccount token. */
  kubeconfig: string;
  /** Namespaces to reconcile; keep e2e operators to their own namespaces on the shared cluster. */
  watchNamespaces: readonly string[];
  /** Leader election on the Lease in this namespace; undefined turns election off. */
  leaseNamespace?: string;
  /** Identity (POD_NAME) it uses for the Lease. */
  identity: string;
  logLevel?: string;
  /** How often it reconciles every stack unprompted (the operator's --resync-period). */
  resyncPeriodSeconds?: number;
}

export interface LocalOperator {
  /** Everything it wrote to stdout and stderr so far (JSON log lines). */
  output(): string;
  /** The value of one sample of its /metrics, summed over label sets that contain `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** SIGTERM (it releases its Lease), then waits for it to exit; SIGKILL after 30 s. */
  stop(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port for the operator metrics');
  return address.port;
}

const MAX_OUTPUT = 2_000_000;

export async function startLocalOperator(options: LocalOperatorOptions): Promise<LocalOperator> {
  const port = await freeLoopbackPort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: options.kubeconfig,
    POD_NAME: options.identity,
    WATCH_NAMESPACES: options.watchNamespaces.join(','),
    LEADER_ELECT: options.leaseNamespace === undefined ? 'false' : 'true',
    LEASE_NAMESPACE: options.leaseNamespace ?? 'default',
    LOG_LEVEL: options.logLevel ?? 'info',
    METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
    HEALTH_PROBE_BIND_ADDRESS: '0',
    ...(options.resyncPeriodSeconds !== undefined && {
      RESYNC_PERIOD_SECONDS: String(options.resyncPeriodSeconds),
    }),
  };
  const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'operator', 'src', 'main.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: string) => {
    if (output.length < MAX_OUTPUT) output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  const exited = once(child, 'exit');

  return {
    output: () => output,
    async metric(name, labels = {}) {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const set = Object.fromEntries(
          [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
        );
        if (Object.entries(labels).every(([k, v]) => set[k] === v)) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
