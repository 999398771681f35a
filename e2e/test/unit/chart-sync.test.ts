import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { PERMISSIONS } from '../../../operator/src/rbac/permissions.ts';
import { chartRules, grantsOf, type PolicyRule } from '../../../charts/rbac-rules.ts';
import { chartDir } from '../support/helm.ts';
import { repoRoot } from '../support/paths.ts';

// What the chart copies from the rest of the repository must not drift from it: the CRDs and the
// operator's RBAC rules. `charts/sync.sh` re-copies both.

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();

// Straight from the operator's list, not through chartRules(), so a bug there cannot hide drift.
function permissionGrants(scope: 'cluster' | 'lease'): string[] {
  return PERMISSIONS.filter((p) => p.scope === scope)
    .flatMap((p) => p.verbs.map((v) => `${p.apiGroup || 'core'}/${p.resource} ${v}`))
    .sort();
}

describe('chart CRDs', () => {
  const top = join(repoRoot, 'crds');
  const inChart = join(chartDir, 'crds');

  it('are the same files as crds/', () => {
    expect(yamlFiles(top).length).toBeGreaterThan(0);
    expect(yamlFiles(inChart)).toEqual(yamlFiles(top));
  });

  it.each(yamlFiles(join(repoRoot, 'crds')))('%s is byte-identical to crds/ (run charts/sync.sh)', (file) => {
    expect(readFileSync(join(inChart, file), 'utf8')).toBe(readFileSync(join(top, file), 'utf8'));
  });
});

describe('chart RBAC rules (files/rbac-rules.yaml)', () => {
  const file = parse(readFileSync(join(chartDir, 'files', 'rbac-rules.yaml'), 'utf8')) as {
    watched: PolicyRule[];
    leaderElection: PolicyRule[];
  };

  it('grant exactly what the operator calls in watched namespaces, no verb missing or extra', () => {
    expect(grantsOf(file.watched)).toEqual(permissionGrants('cluster'));
  });

  it('grant exactly the leader-election calls on the Lease', () => {
    expect(grantsOf(file.leaderElection)).toEqual(permissionGrants('lease'));
  });

  it('are what charts/sync.sh generates (run it after changing permissions.ts)', () => {
    expect(file).toEqual(chartRules());
  });

  it('have no wildcards', () => {
    const all = [...file.watched, ...file.leaderElection];
    expect(all.flatMap((r) => [...r.apiGroups, ...r.resources, ...r.verbs]).filter((x) => x === '*')).toEqual(
      [],
    );
  });
});
