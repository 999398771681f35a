// Operator benchmark (figures, not a test): `node bench/operator.bench.ts [N ...]` against the local
// cluster (make cluster-up). For each N (default 100 and 1000):
//   - baseline: a plain client creates N stacks and server-side-applies every child itself — what
//     the API server allows with the same parallelism;
//   - operator: the operator (one process, CONCURRENCY workers) makes the same children for N
//     new stacks; time from the first create until every child exists;
//   - then API writes during one no-op resync period (shortened to RESYNC_S, stated in the results)
//     and the operator's resident memory.
// Pools have replicas 0 so no pods are made: the figure is the operator's, not the scheduler's.
// Stop any other operator first (`make down` stops the demo's): one watching all namespaces would
// also reconcile the benchmark's stacks and skew both sides.
// Results: bench/results/operator.json, and the "## Operator" section of docs/benchmarks.md.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withDefaults, type ServingStack } from '../operator/src/api/servingstack.ts';
import { buildDesired } from '../operator/src/builders/desired.ts';
import { FIELD_MANAGER } from '../operator/src/builders/names.ts';
import { metricSum, OperatorProcess, REPO_ROOT } from '../operator/test/support/operator-process.ts';
import { writeDocsSection } from './lib/docs-section.ts';

const CONCURRENCY = 16;
const RESYNC_S = 60;
const SIZES = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const NS = SIZES.length > 0 ? SIZES : [100, 1000];
const CHILDREN_PER_STACK = 6; // 2 Deployments, 2 Services, 2 Ingresses (no autoscaling)

const kc = new KubeConfig();
kc.loadFromDefault();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const net = kc.makeApiClient(NetworkingV1Api);
const objects = KubernetesObjectApi.makeApiClient(kc);
const kubectl = join(REPO_ROOT, '.cluster/bin/kubectl');

function stack(namespace: string, i: number): ServingStack {
  return {
    apiVersion: 'servingstack.dev/v1alpha1',
    kind: 'ServingStack',
    metadata: { name: `s${i}`, namespace },
    spec: {
      model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
      routing: { host: `s${i}.bench.test` },
      throughput: { replicas: 0 },
      latency: { replicas: 0 },
    },
  };
}

async function pool<T>(items: T[], fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

async function createStacks(namespace: string, n: number): Promise<ServingStack[]> {
  const out: ServingStack[] = [];
  await pool(
    Array.from({ length: n }, (_, i) => i),
    async (i) => {
      out.push(
        (await custom.createNamespacedCustomObject({
          group: 'servingstack.dev',
          version: 'v1alpha1',
          namespace,
          plural: 'servingstacks',
          body: stack(namespace, i),
        })) as ServingStack,
      );
    },
  );
  return out;
}

async function countChildren(namespace: string): Promise<number> {
  const labelSelector = 'app.kubernetes.io/managed-by=servingstack-operator';
  const [d, s, i] = await Promise.all([
    apps.listNamespacedDeployment({ namespace, labelSelector }),
    core.listNamespacedService({ namespace, labelSelector }),
    net.listNamespacedIngress({ namespace, labelSelector }),
  ]);
  return d.items.length + s.items.length + i.items.length;
}

async function waitChildren(namespace: string, want: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A failed poll (e.g. the shared API server restarting) is retried until the deadline.
  while ((await countChildren(namespace).catch(() => -1)) < want) {
    if (Date.now() > deadline)
      throw new Error(`bench: ${want} children not made within ${timeoutMs / 1000}s in ${namespace}`);
    await sleep(500);
  }
}

async function withNamespace<T>(prefix: string, fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({
    body: { metadata: { name: ns, labels: { 'servingstack.dev/bench': 'true' } } },
  });
  try {
    return await fn(ns);
  } finally {
    await core.deleteNamespace({ name: ns });
  }
}

async function baseline(n: number): Promise<number> {
  return withNamespace('bench-plain', async (ns) => {
    const t0 = performance.now();
    const stacks = await createStacks(ns, n);
    const children: KubernetesObject[] = stacks.flatMap(
      (s) =>
        buildDesired(withDefaults(s), {
          defaultImage: 'localhost/servingstack/server:dev',
          defaultGpuImage: 'localhost/servingstack/server:dev-cuda13',
        }).children,
    );
    await pool(children, async (c) => {
      await objects.patch(c, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    });
    const ms = performance.now() - t0;
    await waitChildren(ns, n * CHILDREN_PER_STACK, 60_000);
    return ms;
  });
}

interface OperatorRun {
  ms: number;
  writesDuringResync: number;
  resyncSeconds: number;
  rssBytes: number;
}

async function withOperator(n: number): Promise<OperatorRun> {
  return withNamespace('bench-op', async (ns) => {
    const op = OperatorProcess.start({
      identity: `bench-${n}`,
      namespaces: [ns],
      leaseName: 'bench',
      args: ['--leader-elect=false', '--resync-period', String(RESYNC_S), '--workers', String(CONCURRENCY)],
      env: { LOG_LEVEL: 'info' },
    });
    try {
      await op.ports();
      await sleep(2_000); // informers listed (empty namespace)
      const t0 = performance.now();
      await createStacks(ns, n);
      await waitChildren(ns, n * CHILDREN_PER_STACK, 30 * 60_000);
      const ms = performance.now() - t0;
      // Let status writes and the Deployment controller's updates settle, then count writes over one resync.
      let last = -1;
      for (;;) {
        await sleep(5_000);
        const m = await op.metrics();
        const now = metricSum(m, 'servingstack_operator_api_requests_total');
        const depth = metricSum(m, 'servingstack_operator_workqueue_depth');
        if (now === last && depth === 0) break;
        last = now;
      }
      const writes = (m: string) =>
        ['apply', 'delete', 'apply-status', 'patch-status'].reduce(
          (a, v) => a + metricSum(m, 'servingstack_operator_api_requests_total', `verb="${v}"`),
          0,
        );
      const before = writes(await op.metrics());
      const reconcilesBefore = metricSum(await op.metrics(), 'servingstack_operator_reconcile_total');
      await sleep((RESYNC_S + 10) * 1000);
      const after = await op.metrics();
      const reconciles = metricSum(after, 'servingstack_operator_reconcile_total') - reconcilesBefore;
      if (reconciles < n)
        throw new Error(`bench: only ${reconciles} reconciles during the resync window, expected ≥ ${n}`);
      return {
        ms,
        writesDuringResync: writes(after) - before,
        resyncSeconds: RESYNC_S,
        rssBytes: metricSum(after, 'servingstack_operator_process_resident_memory_bytes'),
      };
    } finally {
      await op.stop('SIGTERM');
    }
  });
}

function summarise(rows: Record<string, unknown>[]): string {
  const lines = [
    '## Operator',
    '',
    `Measured by \`bench/operator.bench.ts\` on ${new Date().toISOString().slice(0, 10)} against the local control plane`,
    `(one machine, the API server and etcd sharing its CPUs with the operator). Stacks have replicas 0 (no pods);`,
    `${CHILDREN_PER_STACK} children each. Both sides use ${CONCURRENCY} parallel requests for creating the stacks; the plain client`,
    `also applies children ${CONCURRENCY} at a time; the operator runs ${CONCURRENCY} workers (default 4). Each operator pass`,
    `also reads a missing child before creating it (to never adopt someone else's object) and writes the status. The no-op resync period was`,
    `shortened to ${RESYNC_S} s for the measurement (default 300 s). A temporary second ServiceCIDR (a /16) gives the`,
    `cluster's /24 Service range room for 2000 Services per side.`,
    '',
    '| stacks | plain client (s) | operator (s) | operator / plain | API writes during a no-op resync | operator RSS (MiB) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${String(r.stacks)} | ${String(r.plainSeconds)} | ${String(r.operatorSeconds)} | ${String(r.ratio)} | ${String(r.writesDuringResync)} | ${String(r.rssMiB)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

// The local cluster's Service range is a /24 (about 250 ClusterIPs); N = 1000 needs 2000 Services
// per side. A second ServiceCIDR widens the range for the benchmark only, and goes away after.
const BENCH_CIDR = `apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: servingstack-bench}
spec: {cidrs: [10.100.0.0/16]}
`;

async function main(): Promise<void> {
  execFileSync(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')], {
    stdio: 'inherit',
  });
  execFileSync(kubectl, ['apply', '-f', '-'], { input: BENCH_CIDR, stdio: ['pipe', 'inherit', 'inherit'] });
  try {
    await measure();
  } finally {
    execFileSync(kubectl, ['delete', 'servicecidr', 'servingstack-bench', '--wait=false'], {
      stdio: 'inherit',
    });
  }
}

async function measure(): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  for (const n of NS) {
    console.log(`operator bench: N=${n} plain client`);
    const plain = await baseline(n);
    console.log(`operator bench: N=${n} operator`);
    const op = await withOperator(n);
    const row = {
      stacks: n,
      plainSeconds: +(plain / 1000).toFixed(1),
      operatorSeconds: +(op.ms / 1000).toFixed(1),
      ratio: +(op.ms / plain).toFixed(2),
      writesDuringResync: op.writesDuringResync,
      resyncSeconds: op.resyncSeconds,
      rssMiB: +(op.rssBytes / 2 ** 20).toFixed(0),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  // Rows for sizes not measured this run are kept, so `node bench/operator.bench.ts 1000` adds to them.
  const file = join(REPO_ROOT, 'bench/results/operator.json');
  if (existsSync(file)) {
    const old = (JSON.parse(readFileSync(file, 'utf8')) as { rows?: Record<string, unknown>[] }).rows ?? [];
    rows.push(...old.filter((r) => !rows.some((x) => x.stacks === r.stacks)));
    rows.sort((a, b) => Number(a.stacks) - Number(b.stacks));
  }
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), concurrency: CONCURRENCY, childrenPerStack: CHILDREN_PER_STACK, rows }, null, 2)}\n`,
  );
  writeDocsSection('## Operator', summarise(rows));
}

await main();
