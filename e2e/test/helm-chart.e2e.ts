// The Helm chart against the local cluster's API server: lint, a server-side dry run of what it
// renders (under the restricted Pod Security profile), and a release's life: install, upgrade
// with changed values, uninstall leaving the CRD and the ServingStacks alone.
//
// This suite is about the objects the chart makes: the chart's own pods never run
// (CHART_PODS_NEVER_RUN), so they do not reconcile the shared cluster.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { PERMISSIONS } from '../../operator/src/rbac/permissions.ts';
import { grantsOf, type PolicyRule } from '../../charts/rbac-rules.ts';
import { CHART_PODS_NEVER_RUN, chartDir, helm, runHelm } from './support/helm.ts';
import {
  kubeconfigPath,
  kubectl,
  kubectlPath,
  repoRoot,
  waitFor,
  withTestNamespace,
} from './support/index.ts';

// Releases, token reviews and reconciles take seconds each on the shared 2-core machine.
jest.setTimeout(300_000);

const CRD = 'servingstacks.servingstack.dev';

/** kubectl with its stderr too: warnings (e.g. Pod Security) arrive there on success. */
async function kubectlOutput(
  args: readonly string[],
  input: string,
): Promise<{ stdout: string; stderr: string }> {
  const run = promisify(execFile);
  const child = run(kubectlPath, ['--kubeconfig', kubeconfigPath, ...args], { maxBuffer: 16 << 20 });
  child.child.stdin?.end(input);
  return child;
}

async function getJson<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
}

async function exists(args: readonly string[]): Promise<boolean> {
  const out = await kubectl(['get', ...args, '--ignore-not-found', '-o', 'name']);
  return out.trim() !== '';
}

async function ensureCrd(): Promise<void> {
  await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
  await kubectl(['wait', `crd/${CRD}`, '--for=condition=Established', '--timeout=60s']);
}

const release = () => `e2e-${randomBytes(3).toString('hex')}`;

interface Deployment {
  metadata: { generation: number };
  spec: {
    replicas: number;
    template: { spec: { containers: { name: string; env: { name: string; value?: string }[] }[] } };
  };
}
const envOf = (d: Deployment, name: string) =>
  d.spec.template.spec.containers.find((c) => c.name === 'operator')?.env.find((e) => e.name === name)?.value;

describe('helm lint', () => {
  it('passes with --strict', async () => {
    const out = await helm(['lint', '--strict', chartDir]);
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

describe('chart rendered and dry-run applied on the API server', () => {
  const ns = withTestNamespace('e2e-helm-dryrun');

  beforeAll(async () => {
    await ensureCrd();
    // Warn on (and refuse) anything short of the restricted Pod Security profile.
    await kubectl([
      'label',
      'namespace',
      ns.name,
      'pod-security.kubernetes.io/enforce=restricted',
      'pod-security.kubernetes.io/warn=restricted',
    ]);
  });

  it.each([
    ['defaults', []],
    ['watched namespaces (Roles)', ['--set', `operator.watchNamespaces={NS}`]],
    [
      'dashboard and adapter rules',
      ['--set', 'grafanaDashboard.enabled=true', '--set', 'adapterRules.enabled=true'],
    ],
  ])('%s: accepted by a server-side dry run, restricted Pod Security met', async (_what, extra) => {
    const args = extra.map((a) => a.replace('NS', ns.name));
    const manifests = await helm(['template', 'dryrun', chartDir, '-n', ns.name, '--include-crds', ...args]);
    const { stdout, stderr } = await kubectlOutput(
      [
        'apply',
        '--server-side',
        '--dry-run=server',
        '--field-manager=e2e-helm-dryrun',
        '-n',
        ns.name,
        '-f',
        '-',
      ],
      manifests,
    );
    expect(stdout).toMatch(
      /deployment\.apps\/dryrun-servingstack-operator serverside-applied \(server dry run\)/,
    );
    expect(stderr).not.toContain('PodSecurity');
  });

  it('the Pod Security check can fail: a root container is flagged', async () => {
    const manifests = await helm([
      'template',
      'dryrun',
      chartDir,
      '-n',
      ns.name,
      '--set',
      'securityContext.runAsNonRoot=false',
      '--set',
      'podSecurityContext.runAsNonRoot=false',
    ]);
    const { stderr } = await kubectlOutput(
      [
        'apply',
        '--server-side',
        '--dry-run=server',
        '--field-manager=e2e-helm-dryrun',
        '-n',
        ns.name,
        '-f',
        '-',
      ],
      manifests,
    );
    expect(stderr).toContain('would violate PodSecurity "restricted:latest"');
  });
});

describe('helm install, upgrade and uninstall', () => {
  const ns = withTestNamespace('e2e-helm-release');
  const rel = release();
  const fullname = `${rel}-servingstack-operator`;
  let installed = false;

  beforeAll(ensureCrd);
  afterAll(async () => {
    if (installed) await runHelm(['uninstall', rel, '-n', ns.name]);
  });

  it('installs the operator objects', async () => {
    const out = await helm(['install', rel, chartDir, '-n', ns.name, ...CHART_PODS_NEVER_RUN]);
    installed = true;
    // NOTES: what to do next, with this release's names filled in.
    expect(out).toContain(`kubectl -n ${ns.name} rollout status deployment/${fullname}`);
    expect(out).toContain('kind: ServingStack');
    expect(out).toContain(`service ${fullname}-metrics, port 8080`);
    expect(out).toContain('servingstack_request_duration_p95_seconds');
    const dep = await getJson<Deployment>(['deployment', fullname, '-n', ns.name]);
    expect(dep.spec.replicas).toBe(2);
    expect(envOf(dep, 'LEADER_ELECT')).toBe('true');
    expect(envOf(dep, 'LEASE_NAMESPACE')).toBe(ns.name);
    for (const obj of [
      ['serviceaccount', fullname, '-n', ns.name],
      ['service', `${fullname}-metrics`, '-n', ns.name],
      ['poddisruptionbudget', fullname, '-n', ns.name],
      ['role', `${fullname}-leader-election`, '-n', ns.name],
      ['rolebinding', `${fullname}-leader-election`, '-n', ns.name],
      ['clusterrolebinding', fullname],
    ]) {
      expect(await exists(obj)).toBe(true);
    }
    const role = await getJson<{ rules: PolicyRule[] }>(['clusterrole', fullname]);
    expect(grantsOf(role.rules)).toEqual(
      PERMISSIONS.filter((p) => p.scope === 'cluster')
        .flatMap((p) => p.verbs.map((v) => `${p.apiGroup || 'core'}/${p.resource} ${v}`))
        .sort(),
    );
  });

  it('upgrades with changed values, reflected in the Deployment', async () => {
    const before = await getJson<Deployment>(['deployment', fullname, '-n', ns.name]);
    await helm([
      'upgrade',
      rel,
      chartDir,
      '-n',
      ns.name,
      '--reuse-values',
      '--set',
      'operator.logLevel=debug',
      '--set',
      'replicaCount=3',
    ]);
    const after = await getJson<Deployment>(['deployment', fullname, '-n', ns.name]);
    expect(after.spec.replicas).toBe(3);
    expect(envOf(after, 'LOG_LEVEL')).toBe('debug');
    expect(after.metadata.generation).toBeGreaterThan(before.metadata.generation);
    const history = JSON.parse(await helm(['history', rel, '-n', ns.name, '-o', 'json'])) as {
      revision: number;
      status: string;
    }[];
    expect(history.map((h) => h.status)).toEqual(['superseded', 'deployed']);
  });

  it('refuses an upgrade with bad values, naming the field, and keeps the release as it was', async () => {
    const result = await runHelm([
      'upgrade',
      rel,
      chartDir,
      '-n',
      ns.name,
      '--reuse-values',
      '--set',
      'image.pullPolicy=Sometimes',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('pullPolicy');
    const history = JSON.parse(await helm(['history', rel, '-n', ns.name, '-o', 'json'])) as unknown[];
    expect(history).toHaveLength(2);
  });

  it('uninstalls, leaving the CRD and the ServingStacks intact', async () => {
    const stack = {
      apiVersion: 'servingstack.dev/v1alpha1',
      kind: 'ServingStack',
      metadata: { name: 'survivor', namespace: ns.name },
      spec: {
        model: { name: 'mlp', uri: 'file:///opt/servingstack/models/mlp' },
        routing: { host: 'survivor.e2e.local' },
      },
    };
    await kubectl(['apply', '--server-side', '--field-manager=e2e-helm', '-f', '-'], {
      input: JSON.stringify(stack),
    });
    await helm(['uninstall', rel, '-n', ns.name]);
    installed = false;
    await waitFor(
      `Deployment ${fullname} to be deleted`,
      async () => !(await exists(['deployment', fullname, '-n', ns.name])),
    );
    expect(await exists(['clusterrole', fullname])).toBe(false);
    expect(await exists(['crd', CRD])).toBe(true);
    expect(await exists(['servingstack', 'survivor', '-n', ns.name])).toBe(true);
  });
});

describe('crds.managed=true on a cluster whose CRD no release owns', () => {
  const ns = withTestNamespace('e2e-helm-managed');

  beforeAll(ensureCrd);

  it('is refused with the way out (--skip-crds or adoption), and leaves no release behind', async () => {
    const rel = release();
    const result = await runHelm([
      'install',
      rel,
      chartDir,
      '-n',
      ns.name,
      '--skip-crds',
      '--set',
      'crds.managed=true',
      ...CHART_PODS_NEVER_RUN,
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `CustomResourceDefinition ${CRD} already exists and is not owned by release`,
    );
    expect(result.stderr).toContain('--skip-crds');
    expect((await runHelm(['status', rel, '-n', ns.name])).code).not.toBe(0);
    const crd = await getJson<{ metadata: { annotations?: Record<string, string> } }>(['crd', CRD]);
    expect(crd.metadata.annotations?.['meta.helm.sh/release-name']).toBeUndefined();
  });
});
