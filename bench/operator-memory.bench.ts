// Operator memory without a cluster (figures, not a test): `node bench/operator-memory.bench.ts [N ...]`.
// The compiled operator, with the image's node flags, against a loopback stub of the API server
// that lists N stacks and their children exactly as the operator would apply them (so every pass
// finds its children in effect) and holds every watch open. For each N (default 100 and 1000):
// resident memory and heap once every stack has been reconciled and nothing is queued, and how
// long that took from the process start. It measures what the caches and the passes cost the
// process; bench/operator.bench.ts measures the operator against the real local control plane.
// Results: bench/results/operator-memory.json and the "## Operator memory" section of docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import { withDefaults, type ServingStack } from '../operator/src/api/servingstack.ts';
import { buildDesired } from '../operator/src/builders/desired.ts';
import { withIntent } from '../operator/src/reconcile/intent.ts';
import { metricSum, OperatorProcess, REPO_ROOT } from '../operator/test/support/operator-process.ts';
import { writeDocsSection } from './lib/docs-section.ts';
import { imageEnv, imageNodeFlags } from './lib/operator-image.ts';
import { residentSplit } from './lib/process-memory.ts';

const WORKERS = 16;
const NS = 'bench';
const SIZES = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const SIZES_RUN = SIZES.length > 0 ? SIZES : [100, 1000];
const NODE_FLAGS = imageNodeFlags();
const IMAGE_ENV = imageEnv();

function world(n: number): Map<string, KubernetesObject[]> {
  const byPlural = new Map<string, KubernetesObject[]>();
  const add = (plural: string, o: KubernetesObject) =>
    byPlural.set(plural, [...(byPlural.get(plural) ?? []), o]);
  for (let i = 0; i < n; i++) {
    const s: ServingStack = {
      apiVersion: 'servingstack.dev/v1alpha1',
      kind: 'ServingStack',
      metadata: {
        name: `s${i}`,
        namespace: NS,
        uid: `uid-${i}`,
        generation: 1,
        resourceVersion: String(10 + i),
      },
      spec: {
        model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
        routing: { host: `s${i}.bench.test` },
        throughput: { replicas: 0 },
        latency: { replicas: 0 },
      },
    };
    add('servingstacks', s);
    const d = buildDesired(withDefaults(s), {
      defaultImage: 'localhost/servingstack/server:dev',
      defaultGpuImage: 'localhost/servingstack/server:dev-cuda13',
    });
    for (const c of d.children) {
      const o = withIntent(c);
      o.metadata = {
        ...o.metadata,
        uid: `uid-${i}-${c.kind}-${c.metadata?.name}`,
        resourceVersion: String(i),
      };
      add(c.kind === 'Ingress' ? 'ingresses' : `${c.kind?.toLowerCase()}s`, o);
    }
  }
  return byPlural;
}

async function stub(objects: Map<string, KubernetesObject[]>): Promise<{ url: string; close: () => void }> {
  const watches: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders(); // the informer's start waits for the watch to open
      watches.push(res);
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.method === 'GET') {
        const plural = url.pathname.split('/').pop() ?? '';
        const all = objects.get(plural) ?? [];
        const from = Number(url.searchParams.get('continue') ?? 0);
        const limit = Number(url.searchParams.get('limit') ?? all.length) || all.length;
        const items = all.slice(from, from + limit);
        const more = from + limit < all.length ? { continue: String(from + limit) } : {};
        res.end(
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'List',
            metadata: { resourceVersion: '100000', ...more },
            items,
          }),
        );
        return;
      }
      // Writes (the status of each stack) are echoed back.
      res.end(body || '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const w of watches) w.destroy();
      server.close();
    },
  };
}

async function measure(n: number): Promise<Record<string, number>> {
  const s = await stub(world(n));
  const dir = join(tmpdir(), `operator-memory-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stub', cluster: { server: s.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'stub' } }],
      contexts: [{ name: 'stub', context: { cluster: 'stub', user: 'u' } }],
      'current-context': 'stub',
    }),
  );
  const t0 = performance.now();
  const op = OperatorProcess.start({
    identity: `memory-${n}`,
    namespaces: [NS],
    leaseName: 'bench',
    args: ['--leader-elect=false', '--workers', String(WORKERS)],
    env: { ...IMAGE_ENV, LOG_LEVEL: 'info', NODE_OPTIONS: '', KUBECONFIG: kubeconfig },
    compiled: true,
    nodeArgs: NODE_FLAGS,
  });
  try {
    for (;;) {
      const m = await op.metrics().catch(() => '');
      if (
        metricSum(m, 'servingstack_operator_reconcile_total') >= n &&
        metricSum(m, 'servingstack_operator_workqueue_depth') === 0 &&
        m !== ''
      )
        break;
      if (performance.now() - t0 > 300_000) throw new Error(`bench: no convergence on ${n} stacks`);
      await sleep(100);
    }
    const ms = performance.now() - t0;
    await sleep(5_000); // a few GC cycles after the burst
    const m = await op.metrics();
    const mib = (name: string) => +(metricSum(m, `servingstack_operator_${name}`) / 2 ** 20).toFixed(1);
    const split = residentSplit(op.pid ?? 0);
    return {
      stacks: n,
      convergedSeconds: +(ms / 1000).toFixed(1),
      rssMiB: mib('process_resident_memory_bytes'),
      heapMiB: mib('nodejs_heap_size_used_bytes'),
      heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
      externalMiB: mib('nodejs_external_memory_bytes'),
      ...split,
    };
  } finally {
    await op.stop('SIGTERM');
    s.close();
  }
}

execFileSync(
  process.execPath,
  [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'operator/tsconfig.build.json')],
  {
    stdio: 'inherit',
  },
);
const rows: Record<string, number>[] = [];
for (const n of SIZES_RUN) {
  const row = await measure(n);
  console.log(JSON.stringify(row));
  rows.push(row);
}
const [a, b] = [rows[0], rows[rows.length - 1]];
const slope =
  a && b && b !== a
    ? (((b.rssMiB ?? 0) - (a.rssMiB ?? 0)) * 1024) / ((b.stacks ?? 0) - (a.stacks ?? 0))
    : undefined;
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  join(REPO_ROOT, 'bench/results/operator-memory.json'),
  `${JSON.stringify({ date: new Date().toISOString(), workers: WORKERS, nodeFlags: NODE_FLAGS, rows, slopeKiBPerStack: slope }, null, 2)}\n`,
);
writeDocsSection(
  '## Operator memory',
  [
    '## Operator memory',
    '',
    `Measured by \`bench/operator-memory.bench.ts\` on ${new Date().toISOString().slice(0, 10)}: the compiled operator with the`,
    `image's node flags (${NODE_FLAGS.join(' ') || 'none'}) and environment (${Object.entries(IMAGE_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}), ${WORKERS} workers, against a loopback stub of the API server that lists`,
    'the stacks and their children as the operator applies them and keeps every watch open, so each pass finds its children',
    'in effect and writes only the first status. Memory once every stack was reconciled and nothing was queued (5 s after).',
    '',
    '| stacks | converged from process start (s) | RSS (MiB) | heap used (MiB) |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.stacks} | ${r.convergedSeconds} | ${r.rssMiB} | ${r.heapMiB} |`),
    '',
    slope !== undefined ? `Memory per stack (RSS slope): ${slope.toFixed(1)} KiB.` : '',
    '',
  ].join('\n'),
);
