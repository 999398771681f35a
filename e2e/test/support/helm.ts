import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { clusterDir, kubeconfigPath, repoRoot } from './paths.ts';

export const chartDir = join(repoRoot, 'charts', 'servingstack-operator');

/**
 * `helm install` flags for suites about the chart's objects, not its pods: the operator pods are
 * never scheduled (a node label no node has) and their image is never pulled, so they neither
 * reconcile the shared cluster nor leave pods for the node agent to tear down.
 */
export const CHART_PODS_NEVER_RUN: readonly string[] = [
  '--set',
  'image.tag=e2e-never-pulled',
  '--set',
  'image.pullPolicy=Never',
  '--set-string',
  'nodeSelector.servingstack\\.dev/e2e-unschedulable=true',
];

/** A rendered manifest, loosely typed: tests pick the fields they assert on. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [field: string]: unknown;
}

// The helm that `make tools` builds: .cluster/bin/helm once the cluster is up, else the versioned
// cache entry (HELM_VERSION from e2e/cluster/versions.env). HELM overrides both.
function findHelm(): string | undefined {
  if (process.env.HELM) return process.env.HELM;
  const linked = join(clusterDir, 'bin', 'helm');
  if (existsSync(linked)) return linked;
  const versions = readFileSync(join(repoRoot, 'e2e', 'cluster', 'versions.env'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  const cache = process.env.SERVINGSTACK_CACHE ?? join(homedir(), '.cache', 'servingstack');
  const cached = version === undefined ? undefined : join(cache, 'bin', `helm-${version}`, 'helm');
  return cached !== undefined && existsSync(cached) ? cached : undefined;
}

export const helmPath = findHelm();

export interface HelmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm against the local cluster's kubeconfig; resolves with the outcome whatever the exit code. */
export function runHelm(args: readonly string[], input?: string): Promise<HelmResult> {
  const helm = helmPath;
  if (helm === undefined) {
    return Promise.reject(
      new Error('helm is not built: run `make helm` (`make unit` and `make tools` build it too)'),
    );
  }
  return new Promise((resolve, reject) => {
    // Only the local cluster, never the developer's current context; `helm template` needs none.
    const kube = existsSync(kubeconfigPath) ? ['--kubeconfig', kubeconfigPath] : [];
    const child = spawn(helm, [...args, ...kube], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => reject(new Error(`helm ${args.join(' ')}: ${err.message}`)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs helm and resolves with stdout; rejects with stderr when it fails. */
export async function helm(args: readonly string[], input?: string): Promise<string> {
  const result = await runHelm(args, input);
  if (result.code !== 0) {
    throw new Error(`helm ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** `--set` pairs, e.g. ['replicaCount=3']. */
  set?: readonly string[];
  extraArgs?: readonly string[];
  /** Render the chart's crds/ too (helm template --include-crds); on by default. */
  includeCrds?: boolean;
}

/** `helm template` of the chart, parsed; by default with the CRDs from crds/, so a test sees everything. */
export async function renderChart(options: RenderOptions = {}): Promise<Manifest[]> {
  const {
    release = 'sst',
    namespace = 'servingstack-system',
    set = [],
    extraArgs = [],
    includeCrds = true,
  } = options;
  const args = ['template', release, chartDir, '--namespace', namespace, ...extraArgs];
  if (includeCrds) args.push('--include-crds');
  for (const pair of set) args.push('--set', pair);
  return parseManifests(await helm(args));
}

export function findManifest(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found === undefined) {
    const seen = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(`no ${kind}${name === undefined ? '' : `/${name}`} among the rendered objects: ${seen}`);
  }
  return found;
}
