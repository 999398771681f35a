// A model switch under load through the router (Rolling, the default strategy): the stack pins
// the generated MLP's files (spec.model.digests), then the second version (other weights,
// file:///opt/servingstack/models/mlp-v2), is set back to the first while the switch is under way,
// and switched to the second again. Load through Traefik goes to both pools all along. Every
// answer says which version computed it (X-Model-Version); none fails; the status says per pool
// which version its ready replicas serve, ModelVersionConsistent is Switching while the pools
// differ and Consistent once both serve the desired version, which `kubectl get` shows.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import {
  ROUTER_GATEWAY,
  defaultServiceAccount,
  ensureNodeAgent,
  ensureRouter,
} from '../agent/testing/cluster-parts.ts';
import { stackManifest } from '../agent/testing/stack.ts';
import { callRouter, type Outcome } from '../agent/testing/traffic.ts';
import { startLocalOperator, type LocalOperator } from './support/local-operator.ts';
import {
  kubeconfigPath,
  kubectl,
  loadKubeConfig,
  repoRoot,
  waitFor,
  withTestNamespace,
} from './support/index.ts';

const G = 'servingstack.dev';
const V = 'v1alpha1';
const kc = loadKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = withTestNamespace('e2e-version');
const name = 'ver';
const host = 'ver.version.e2e.test';
const CONCURRENCY = 4;
const MAX_LOAD_MS = 420_000;
/** The pods' preStop sleep (the operator's ENDPOINT_PROPAGATION_SECONDS at a 20 s grace period). */
const PRE_STOP_MS = 5_000;

const FILES = ['model.onnx', 'model.fp16.onnx', 'model.int8.onnx'];
/** spec.model for one version of the generated MLP in the image, pinned by its files' digests. */
function release(dir: 'mlp' | 'mlp-v2') {
  const digests = Object.fromEntries(
    FILES.map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(`${repoRoot}server-image/models/${dir}/${f}`))
        .digest('hex'),
    ]),
  );
  // As the server and operator compute it (docs/server.md#model-version).
  const lines = [...new Set(Object.values(digests))].sort().map((d) => `${d}\n`);
  const version = `sha256:${createHash('sha256').update(lines.join('')).digest('hex')}`;
  return { model: { name: 'mlp', uri: `file:///opt/servingstack/models/${dir}`, digests }, version };
}
const V1 = release('mlp');
const V2 = release('mlp-v2');

interface VersionCount {
  version: string;
  replicas: number;
  readyReplicas: number;
}
interface StackStatus {
  desiredModelVersion?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  throughput?: { modelVersion?: string; modelVersions?: VersionCount[] };
  latency?: { modelVersion?: string; modelVersions?: VersionCount[] };
}

const readStatus = async () =>
  (
    (await custom.getNamespacedCustomObject({
      group: G,
      version: V,
      namespace: ns.name,
      plural: 'servingstacks',
      name,
    })) as { status?: StackStatus }
  ).status ?? {};
const cond = (s: StackStatus, type: string) => s.conditions?.find((c) => c.type === type);
const consistentOn = (version: string) => (s: StackStatus) =>
  s.desiredModelVersion === version &&
  cond(s, 'ModelVersionConsistent')?.reason === 'Consistent' &&
  s.throughput?.modelVersion === version &&
  s.latency?.modelVersion === version;

type Model = ReturnType<typeof release>['model'] & { switchStrategy?: 'Rolling' | 'Together' };
const setModel = (model: Model, spec: Record<string, unknown> = {}) =>
  custom.patchNamespacedCustomObject(
    {
      group: G,
      version: V,
      namespace: ns.name,
      plural: 'servingstacks',
      name,
      body: { spec: { ...spec, model } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );

type Answer = Outcome & { at: number };

/**
 * Load through the router on both pools (alternating priorities), and every status the operator
 * writes, from a watch: polling could miss a short mix.
 */
async function underLoad() {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const answers: Answer[] = [];
  let stop = false;
  const started = Date.now();
  const worker = async (i: number) => {
    const priority = i % 2 === 0 ? 'real-time' : 'batch';
    while (!stop && Date.now() - started < MAX_LOAD_MS) {
      const o = await callRouter(
        { host, model: 'mlp', headers: { 'X-Serving-Priority': priority } },
        agent,
        answers.length,
      );
      answers.push({ ...o, at: Date.now() });
    }
  };
  const load = Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => worker(i)));
  const statuses: { at: number; status: StackStatus }[] = [];
  const watching = await new Watch(kc).watch(
    `/apis/${G}/${V}/namespaces/${ns.name}/servingstacks`,
    { fieldSelector: `metadata.name=${name}` },
    (_phase, obj: { status?: StackStatus }) => statuses.push({ at: Date.now(), status: obj.status ?? {} }),
    () => {},
  );
  const latest = () => statuses.at(-1)?.status ?? {};
  return {
    answers,
    statuses,
    until: (what: string, done: (s: StackStatus) => boolean) =>
      waitFor(what, latest, { until: done, timeoutMs: 180_000, intervalMs: 200 }),
    stop: async () => {
      stop = true;
      await load;
      agent.destroy();
      watching.abort();
    },
  };
}

/** Failures by status (or transport error), next to the total, so a failure reads as a rate. */
function expectNoFailures(answers: readonly Answer[]): void {
  const failed: Record<string, number> = {};
  for (const o of answers.filter((a) => a.status !== 200))
    failed[o.error ?? String(o.status)] = (failed[o.error ?? String(o.status)] ?? 0) + 1;
  expect({ requests: answers.length, failed }).toEqual({ requests: answers.length, failed: {} });
  expect(answers.length).toBeGreaterThan(100);
}

let operator: LocalOperator | undefined;

beforeAll(async () => {
  await ensureNodeAgent();
  await ensureRouter();
  await defaultServiceAccount(ns.name, kubectl);
  await kubectl(['apply', '--server-side', '-f', `${repoRoot}crds/`]);
  operator = await startLocalOperator({
    kubeconfig: kubeconfigPath,
    watchNamespaces: [ns.name],
    identity: 'e2e-version',
  });
  const manifest = stackManifest({
    name,
    namespace: ns.name,
    host,
    provider: 'gateway-api',
    gateway: ROUTER_GATEWAY,
    throughputPrecision: 'fp32',
  });
  manifest.spec.model = V1.model;
  await custom.createNamespacedCustomObject({
    group: G,
    version: V,
    namespace: ns.name,
    plural: 'servingstacks',
    body: manifest,
  });
  await waitFor('the stack to be Ready and both pools on the first version', readStatus, {
    until: (s) => cond(s, 'Ready')?.status === 'True' && consistentOn(V1.version)(s),
    timeoutMs: 300_000,
    intervalMs: 2_000,
  });
  for (const priority of ['real-time', 'batch'])
    await waitFor(
      `the router to reach the pool of ${priority}`,
      () => callRouter({ host, model: 'mlp', headers: { 'X-Serving-Priority': priority } }),
      {
        until: (o) => o.status === 200 && o.version === V1.version,
        timeoutMs: 60_000,
        intervalMs: 1_000,
      },
    );
}, 420_000);

afterAll(async () => {
  await operator?.stop();
});

describe('a model switch under load', () => {
  test('Rolling: every answer names its version, none fails, and the status follows the pools through a rollback mid-switch', async () => {
    const run = await underLoad();
    await new Promise((r) => setTimeout(r, 3_000));
    // Switch, and set the first version back as soon as a replica of the second serves.
    await setModel(V2.model);
    await run.until(
      'a replica of the second version to be ready',
      (s) =>
        s.desiredModelVersion === V2.version &&
        [s.throughput, s.latency].some((p) =>
          p?.modelVersions?.some((v) => v.version === V2.version && v.readyReplicas > 0),
        ),
    );
    await setModel(V1.model);
    await run.until('both pools back on the first version', consistentOn(V1.version));
    await setModel(V2.model);
    const done = await run.until('both pools on the second version', consistentOn(V2.version));
    const switched = Date.now();
    // Past the old pods' preStop sleep, by when routers have dropped them (PRE_STOP_MS).
    await new Promise((r) => setTimeout(r, PRE_STOP_MS + 5_000));
    await run.stop();

    expectNoFailures(run.answers);
    // Every answer names one of the two versions.
    expect(run.answers.filter((a) => a.version !== V1.version && a.version !== V2.version)).toEqual([]);
    // Per pool: both versions answered, and only the second once the old pods have left the
    // routers (requests sent later than the status said Consistent plus the preStop sleep).
    for (const pool of ['latency', 'throughput']) {
      const of = run.answers.filter((a) => a.pool === pool);
      expect(new Set(of.map((a) => a.version))).toEqual(new Set([V1.version, V2.version]));
      const after = of.filter((a) => a.at - a.ms > switched + PRE_STOP_MS);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((a) => a.version !== V2.version)).toEqual([]);
    }
    // The pools were seen serving different versions: the status said so while it lasted.
    expect(run.statuses.some((s) => s.status.conditions?.some((c) => c.reason === 'Switching'))).toBe(true);
    for (const pool of [done.throughput, done.latency])
      expect(pool?.modelVersions).toContainEqual({ version: V2.version, replicas: 1, readyReplicas: 1 });
    const table = await kubectl(['get', 'servingstacks', '-n', ns.name, name, '-o', 'wide']);
    expect(table).toMatch(/\bVERSION\b/);
    expect(table).toContain('Consistent');
    expect(table).toContain(V2.version);
  }, 600_000);

  test('Together: no pool serves a new version before both can; a rollback mid-switch and a set that cannot be scheduled leave the live one serving', async () => {
    // From Rolling (on the second version) to Together on the first: the sets start.
    await setModel({ ...V1.model, switchStrategy: 'Together' });
    await waitFor('both pools on the first version, in their set', readStatus, {
      until: consistentOn(V1.version),
      timeoutMs: 240_000,
      intervalMs: 1_000,
    });
    // The Rolling pods of the second version, pruned at that switch, leave the routers first.
    await new Promise((r) => setTimeout(r, PRE_STOP_MS + 2_000));
    const run = await underLoad();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(run.answers.filter((a) => a.version !== V1.version)).toEqual([]);

    // 1. A switch together to the second version.
    const asked = Date.now();
    await setModel({ ...V2.model, switchStrategy: 'Together' });
    await run.until('both pools on the second version', consistentOn(V2.version));
    const switched = Date.now();
    await new Promise((r) => setTimeout(r, PRE_STOP_MS + 3_000));

    // 2. A switch back that is set back to the second version mid-switch: the Services never move.
    const rollbackFrom = Date.now();
    await setModel({ ...V1.model, switchStrategy: 'Together' });
    await run.until('the first version to start as a new set', (s) =>
      [s.throughput, s.latency].some((p) => p?.modelVersions?.some((v) => v.version === V1.version)),
    );
    await setModel({ ...V2.model, switchStrategy: 'Together' });
    await run.until(
      'the new set to be gone',
      (s) =>
        consistentOn(V2.version)(s) &&
        [s.throughput, s.latency].every((p) => p?.modelVersions?.every((v) => v.version === V2.version)),
    );

    // 3. A new set whose latency pool cannot be scheduled (more GPUs than the node has): its
    // throughput pool gets ready, and still neither pool serves the new version.
    const stuckFrom = Date.now();
    await setModel({ ...V1.model, switchStrategy: 'Together' }, { latency: { resources: { gpus: 64 } } });
    const stuck = await run.until(
      'the new throughput set to be ready while the latency one cannot start',
      (s) => (s.throughput?.modelVersions ?? []).some((v) => v.version === V1.version && v.readyReplicas > 0),
    );
    await new Promise((r) => setTimeout(r, 5_000));
    const pending = await readStatus();
    expect(cond(pending, 'ModelVersionConsistent')).toMatchObject({
      status: 'False',
      reason: 'SwitchPending',
    });
    expect(cond(pending, 'ModelVersionConsistent')?.message).toContain('latency: 0/1 ready');
    expect(cond(pending, 'Ready')?.status).toBe('True');
    // The new set's ready replicas are in no Service: the pool serves the live version alone.
    expect(stuck.throughput?.modelVersion).toBe(V2.version);
    await setModel({ ...V2.model, switchStrategy: 'Together' }, { latency: { resources: { gpus: 1 } } });
    await run.until('the stuck set to be gone', (s) =>
      [s.throughput, s.latency].every((p) => p?.modelVersions?.every((v) => v.version === V2.version)),
    );
    await run.stop();

    expectNoFailures(run.answers);
    const first2 = Math.min(
      ...run.answers.filter((a) => a.version === V2.version && a.at - a.ms > asked).map((a) => a.at - a.ms),
    );
    const last1 = Math.max(...run.answers.filter((a) => a.version === V1.version).map((a) => a.at - a.ms));
    // Before the switch every answer is the first version, from both pools; after it (once the
    // old pods left the routers) every answer is the second. In between, the two Services'
    // endpoints reach the router one after the other, within the old pods' preStop sleep.
    // How long both versions answered, as the two Services' endpoints reached the router.
    console.log(
      `Together: ${run.answers.length} requests; first answer of the new version ${Math.round(first2 - asked)} ms after ` +
        `the switch was asked for; the old version answered until ${Math.round(last1 - first2)} ms after that`,
    );
    expect(last1).toBeLessThan(switched + PRE_STOP_MS);
    expect(last1 - first2).toBeLessThan(PRE_STOP_MS);
    // The rollback and the stuck set: the Services stayed on the second version throughout.
    expect(run.answers.filter((a) => a.at - a.ms > rollbackFrom && a.version !== V2.version)).toEqual([]);
    expect(run.answers.filter((a) => a.at - a.ms > stuckFrom).length).toBeGreaterThan(0);
    expect(run.statuses.some((s) => s.status.conditions?.some((c) => c.reason === 'SwitchPending'))).toBe(
      true,
    );
  }, 600_000);
});
