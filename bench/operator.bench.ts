// Operator benchmark (figures, not a test): `node bench/operator.bench.ts [N ...]` against the local
// cluster (make cluster-up). For each N (default 100 and 1000):
//   - baseline: a plain client (client-node on one keep-alive pool, the operator's SharedTransport,
//     CONCURRENCY requests in flight) creates N stacks and server-side-applies every child itself;
//   - operator: the operator (one process, CONCURRENCY workers, as many connections) makes the same
//     children for N new stacks. Both are timed from the API server's audit log, the same way: from
//     when it received the first stack's create until it answered the last child's apply;
//   - then, from the audit log, the operator's writes during one no-op resync period (shortened to
//     RESYNC_S), its resident memory and heap; a standby takes over the lease when the leader stops
//     (hand-over: until it has reconciled every stack), and a restarted operator converges; both
//     must write nothing.
// Pools have replicas 0 so no pods are made: the figure is the operator's, not the scheduler's.
// Stop any other operator first (`make down` stops the demo's): one watching all namespaces would
// also reconcile the benchmark's stacks and skew both sides.
// Results: bench/results/operator.json, and the "## Operator" section of docs/benchmarks.md.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
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
import { apiConfiguration, OPEN_GATE, userAgent } from '../operator/src/controller/api-clients.ts';
import { SharedTransport } from '../operator/src/controller/transport.ts';
import { metricSum, OperatorProcess, REPO_ROOT } from '../operator/test/support/operator-process.ts';
import { AuditTail, describe, type Write } from './lib/audit-tail.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { imageEnv, imageNodeFlags } from './lib/operator-image.ts';
import { residentSplit } from './lib/process-memory.ts';

const CONCURRENCY = 16;
const RESYNC_S = 30;
const SIZES = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const NS = SIZES.length > 0 ? SIZES : [100, 1000];
const CHILDREN_PER_STACK = 6; // 2 Deployments, 2 Services, 2 Ingresses (no autoscaling)
const CHILD_RESOURCES = new Set(['deployments', 'services', 'ingresses']);
const PLAIN = 'bench-plain';
// The operator runs as the image runs it: compiled, with the image's V8 flags and environment.
const NODE_FLAGS = imageNodeFlags();
const IMAGE_ENV = imageEnv();

const kc = new KubeConfig();
kc.loadFromDefault();
const transport = new SharedTransport(kc, { maxConnections: CONCURRENCY });
const config = apiConfiguration(kc, OPEN_GATE, PLAIN, undefined, transport);
const custom = new CustomObjectsApi(config);
const core = new CoreV1Api(config);
const objects = new KubernetesObjectApi(config);
const kubectl = join(REPO_ROOT, '.cluster/bin/kubectl');
const audit = new AuditTail();

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

const ok = (e: Write) => (e.responseStatus?.code ?? 500) < 300;
// The operator creates a child its cache does not hold (POST, no read first) and applies the ones it
// does (server-side apply, PATCH); the plain client applies every child. Either makes the child.
const isChildApply = (e: Write) =>
  (e.verb === 'patch' || e.verb === 'create') &&
  !e.objectRef?.subresource &&
  CHILD_RESOURCES.has(e.objectRef?.resource ?? '') &&
  ok(e);

/**
 * Waits until the API server has answered an apply of every child in `namespace`; returns the time
 * from the first stack create it received to the last child apply it answered, in ms.
 */
async function childrenApplied(namespace: string, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const want = n * CHILDREN_PER_STACK;
  for (;;) {
    audit.poll();
    const writes = audit.filter({ namespace });
    const applies = writes.filter(isChildApply);
    const seen = new Set(applies.map((e) => `${e.objectRef?.resource}/${e.objectRef?.name}`));
    if (seen.size >= want) {
      const first = Math.min(
        ...writes
          .filter((e) => e.verb === 'create' && e.objectRef?.resource === 'servingstacks')
          .map((e) => Date.parse(e.requestReceivedTimestamp)),
      );
      const last = Math.max(...applies.map((e) => Date.parse(e.stageTimestamp)));
      return last - first;
    }
    if (Date.now() > deadline)
      throw new Error(
        `bench: ${seen.size} of ${want} children applied within ${timeoutMs / 1000}s in ${namespace}`,
      );
    await sleep(250);
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

/** The plain client's time (ms), and its CPU time (s) creating the stacks and applying the children. */
async function baseline(n: number): Promise<{ ms: number; cpuSeconds: number }> {
  return withNamespace('bench-plain', async (ns) => {
    const cpu0 = process.cpuUsage();
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
    const cpu = process.cpuUsage(cpu0);
    return {
      ms: await childrenApplied(ns, n, 60_000),
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
    };
  });
}

interface Figures {
  reconciles: number;
  depth: number;
  leader: number;
  rss: number;
  heap: number;
  heapTotal: number;
  external: number;
  cpuSeconds: number;
}

async function figures(op: OperatorProcess): Promise<Figures> {
  const m = await op.metrics();
  return {
    reconciles: metricSum(m, 'servingstack_operator_reconcile_total'),
    depth: metricSum(m, 'servingstack_operator_workqueue_depth'),
    leader: metricSum(m, 'servingstack_operator_leader'),
    rss: metricSum(m, 'servingstack_operator_process_resident_memory_bytes'),
    heap: metricSum(m, 'servingstack_operator_nodejs_heap_size_used_bytes'),
    heapTotal: metricSum(m, 'servingstack_operator_nodejs_heap_size_total_bytes'),
    external: metricSum(m, 'servingstack_operator_nodejs_external_memory_bytes'),
    cpuSeconds: metricSum(m, 'servingstack_operator_process_cpu_seconds_total'),
  };
}

/** Until the operator leads, has reconciled every stack once and has nothing queued; ms from `t0`. */
async function converged(
  op: OperatorProcess,
  n: number,
  t0: number,
  timeoutMs: number,
): Promise<{ ms: number; leadMs: number }> {
  let leadMs = -1;
  for (;;) {
    const f = await figures(op).catch(() => undefined);
    if (f && f.leader === 1 && leadMs < 0) leadMs = performance.now() - t0;
    if (f && f.leader === 1 && f.reconciles >= n && f.depth === 0)
      return { ms: performance.now() - t0, leadMs };
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`bench: ${op.identity} did not converge on ${n} stacks`);
    await sleep(100);
  }
}

async function ready(op: OperatorProcess): Promise<void> {
  const { health } = await op.ports();
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    await sleep(100);
  }
  throw new Error(`bench: ${op.identity} not ready within 60 s`);
}

/** Until the operator has had nothing queued and written nothing for `quietMs`. */
async function settled(op: OperatorProcess, ns: string, quietMs: number): Promise<void> {
  for (;;) {
    await sleep(quietMs);
    audit.poll();
    const recent = audit
      .filter({
        namespace: ns,
        userAgentPrefix: userAgent(op.identity),
        since: Date.now() - quietMs,
      })
      .filter(notLease);
    if (recent.length === 0 && (await figures(op)).depth === 0) return;
  }
}

function start(identity: string, ns: string, leaderElect: boolean): OperatorProcess {
  return OperatorProcess.start({
    identity,
    namespaces: [ns],
    leaseName: 'bench',
    args: [
      `--leader-elect=${String(leaderElect)}`,
      '--resync-period',
      String(RESYNC_S),
      '--workers',
      String(CONCURRENCY),
    ],
    env: { ...IMAGE_ENV, LOG_LEVEL: 'info', NODE_OPTIONS: '' },
    compiled: true,
    nodeArgs: NODE_FLAGS,
  });
}

interface OperatorRun {
  ms: number;
  writesDuringResync: string[];
  rssBytes: number;
  heapBytes: number;
  /** Where the resident memory after creating lies. */
  memory: Record<string, number>;
  /** The operator's CPU time while it made the children. */
  cpuSeconds: number;
  handoverMs: number;
  handoverLeadMs: number;
  handoverWrites: string[];
  restartMs: number;
  restartWrites: string[];
  restartRssBytes: number;
}

// The leader renews its Lease (in the benchmark's namespace) every few seconds: that is leader
// election, not a write the resync or a hand-over made, and it never stops.
const notLease = (e: Write) => e.objectRef?.resource !== 'leases';

const writesBy = (identity: string, ns: string, since: number) =>
  (audit.poll(), audit.filter({ namespace: ns, userAgentPrefix: userAgent(identity), since }))
    .filter(notLease)
    .map(describe);

async function withOperator(n: number): Promise<OperatorRun> {
  return withNamespace('bench-op', async (ns) => {
    const a = start(`bench-${n}-a`, ns, true);
    let b: OperatorProcess | undefined;
    let c: OperatorProcess | undefined;
    try {
      await a.ports();
      await converged(a, 0, performance.now(), 60_000); // the leader
      await ready(a); // informers listed (an empty namespace)
      await createStacks(ns, n);
      const cpuBefore = (await figures(a)).cpuSeconds;
      const ms = await childrenApplied(ns, n, 30 * 60_000);
      // The CPU the operator spent while the children were made: the API server and etcd share the cores.
      const cpuSeconds = +((await figures(a)).cpuSeconds - cpuBefore).toFixed(1);
      // Status writes and the Deployment controller's updates settle; then one resync period.
      await settled(a, ns, 5_000);
      const before = (await figures(a)).reconciles;
      const t = Date.now();
      await sleep((RESYNC_S + 5) * 1000);
      const after = await figures(a);
      const memory = {
        heapTotalMiB: MiB(after.heapTotal),
        externalMiB: MiB(after.external),
        ...residentSplit(a.pid ?? 0),
      };
      if (after.reconciles - before < n)
        throw new Error(
          `bench: only ${after.reconciles - before} reconciles during the resync window, expected ≥ ${n}`,
        );
      const writesDuringResync = writesBy(a.identity, ns, t);

      // Hand-over: a standby waits on the lease; the leader stops (and releases it).
      b = start(`bench-${n}-b`, ns, true);
      await b.ports();
      await sleep(3_000);
      const t0 = performance.now();
      const since = Date.now();
      await a.stop('SIGTERM');
      const h = await converged(b, n, t0, 10 * 60_000);
      await settled(b, ns, 3_000);
      const handoverWrites = writesBy(b.identity, ns, since);
      await b.stop('SIGTERM');

      // A restarted operator (no leader election): from process start to every stack reconciled.
      const t1 = performance.now();
      const since1 = Date.now();
      c = start(`bench-${n}-c`, ns, false);
      const r = await converged(c, n, t1, 10 * 60_000);
      await settled(c, ns, 3_000);
      const restart = await figures(c);
      return {
        ms,
        writesDuringResync,
        rssBytes: after.rss,
        heapBytes: after.heap,
        memory,
        cpuSeconds,
        handoverMs: h.ms,
        handoverLeadMs: h.leadMs,
        handoverWrites,
        restartMs: r.ms,
        restartWrites: writesBy(c.identity, ns, since1),
        restartRssBytes: restart.rss,
      };
    } finally {
      for (const op of [a, b, c]) await op?.stop('SIGTERM').catch(() => {});
    }
  });
}

const MiB = (b: number) => +(b / 2 ** 20).toFixed(0);
const sec = (ms: number) => +(ms / 1000).toFixed(1);

function summarise(rows: Record<string, unknown>[]): string {
  const [small, big] = [rows[0], rows[rows.length - 1]];
  const slope =
    small && big && big !== small
      ? ((Number(big.rssMiB) - Number(small.rssMiB)) * 1024) / (Number(big.stacks) - Number(small.stacks))
      : undefined;
  const lines = [
    '## Operator',
    '',
    `Measured by \`bench/operator.bench.ts\` on ${new Date().toISOString().slice(0, 10)} against the local control plane`,
    `(one machine, the API server and etcd sharing its CPUs with the operator). Stacks have replicas 0 (no pods);`,
    `${CHILDREN_PER_STACK} children each. The plain client is client-node on one keep-alive pool of ${CONCURRENCY} connections`,
    `(the operator's SharedTransport) with ${CONCURRENCY} requests in flight: it creates the stacks, then applies every child;`,
    `the benchmark creates the stacks for the operator the same way, and the operator runs ${CONCURRENCY} workers (default 4)`,
    `on ${CONCURRENCY} connections. Both times come from the API server's audit log: from the first stack's create received to`,
    `the last child's apply answered. Writes are counted from the audit log too (the operator's User-Agent), Events`,
    `included. The no-op resync period was shortened to ${RESYNC_S} s for the measurement (default 300 s). Hand-over: a`,
    `standby waits on the lease, the leader is stopped (SIGTERM releases the lease), time until the standby leads and has`,
    `reconciled every stack with nothing queued. Restart: a new process (no leader election), from its start to the same`,
    `point. A temporary second ServiceCIDR (a /16) gives the cluster's /24 Service range room for 2000 Services per side.`,
    '',
    '| stacks | plain client (s) | operator (s) | operator / plain | writes during a no-op resync | RSS / heap after creating (MiB) | hand-over (s) (lease taken after) | writes | restart converged (s) | writes | RSS after restart (MiB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${String(r.stacks)} | ${String(r.plainSeconds)} | ${String(r.operatorSeconds)} | ${String(r.ratio)} | ${String(r.writesDuringResync)} | ${String(r.rssMiB)} / ${String(r.heapMiB)} | ${String(r.handoverSeconds)} (${String(r.handoverLeadSeconds)}) | ${String(r.handoverWrites)} | ${String(r.restartSeconds)} | ${String(r.restartWrites)} | ${String(r.restartRssMiB)} |`,
    ),
    '',
    slope !== undefined
      ? `Memory per stack (RSS slope from ${String(small?.stacks)} to ${String(big?.stacks)} stacks): ${slope.toFixed(1)} KiB.`
      : '',
    '',
    ...rows
      .filter((r) => r.operatorCpuSeconds !== undefined)
      .map(
        (r) =>
          `CPU time while the children of ${String(r.stacks)} stacks were made (the API server and etcd share the cores): ` +
          `operator ${String(r.operatorCpuSeconds)} s, plain client ${String(r.plainCpuSeconds)} s.`,
      ),
    ...rows
      .filter((r) => r.memory)
      .map((r) => {
        const m = r.memory as Record<string, number>;
        return (
          `Where the RSS after creating ${String(r.stacks)} stacks lies: ${m.anonMiB} MiB anonymous (V8 heap ${m.heapTotalMiB} MiB ` +
          `committed, external ${m.externalMiB} MiB, malloc ${m.mallocMainMiB} MiB main arena + ${m.mallocThreadsMiB} MiB ` +
          `thread arenas), ${m.fileMiB} MiB file-backed (the node binary and libraries, shared with any other node process).`
        );
      }),
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
  execFileSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(REPO_ROOT, 'operator/tsconfig.build.json'),
    ],
    {
      stdio: 'inherit',
    },
  );
  console.log(
    `operator bench: operator node flags ${JSON.stringify(NODE_FLAGS)}, env ${JSON.stringify(IMAGE_ENV)}`,
  );
  execFileSync(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')], {
    stdio: 'inherit',
  });
  execFileSync(kubectl, ['apply', '-f', '-'], { input: BENCH_CIDR, stdio: ['pipe', 'inherit', 'inherit'] });
  try {
    await measure();
  } finally {
    await transport.close();
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
      plainSeconds: sec(plain.ms),
      operatorSeconds: sec(op.ms),
      ratio: +(op.ms / plain.ms).toFixed(2),
      plainCpuSeconds: plain.cpuSeconds,
      operatorCpuSeconds: op.cpuSeconds,
      writesDuringResync: op.writesDuringResync.length,
      resyncSeconds: RESYNC_S,
      rssMiB: MiB(op.rssBytes),
      heapMiB: MiB(op.heapBytes),
      memory: op.memory,
      handoverSeconds: sec(op.handoverMs),
      handoverLeadSeconds: sec(op.handoverLeadMs),
      handoverWrites: op.handoverWrites.length,
      restartSeconds: sec(op.restartMs),
      restartWrites: op.restartWrites.length,
      restartRssMiB: MiB(op.restartRssBytes),
      unexpectedWrites: [...op.writesDuringResync, ...op.handoverWrites, ...op.restartWrites].slice(0, 20),
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
