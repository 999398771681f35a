import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { chartDir } from '../support/helm.ts';

// values.schema.json checked with a JSON Schema validator, no helm needed; helm applies the same
// schema on install/template (chart-render.test.ts checks that end when helm is built).

type Values = Record<string, unknown>;
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as object;
const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** The defaults with one dotted path set, as `--set path=value` would do. */
function withValue(path: string, value: unknown): Values {
  const values = structuredClone(defaults);
  const keys = path.split('.');
  let node: Values = values;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Values;
  }
  node[keys.at(-1) as string] = value;
  return values;
}

function errorsOf(values: Values): ErrorObject[] {
  return validate(values) ? [] : (validate.errors ?? []);
}

/** Where each error points: the offending value's path, or the parent plus the unknown key. */
const paths = (errors: ErrorObject[]): string[] =>
  errors.map((e) =>
    e.keyword === 'additionalProperties'
      ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`
      : e.instancePath,
  );

describe('values.schema.json', () => {
  it('accepts the chart defaults', () => {
    expect(errorsOf(defaults)).toEqual([]);
  });

  it.each([
    ['replicaCount', -1, '/replicaCount'],
    ['replicaCount', 0, '/replicaCount'],
    ['replicaCount', 'two', '/replicaCount'],
    ['image.pullPolicy', 'Sometimes', '/image/pullPolicy'],
    ['image.repository', '', '/image/repository'],
    ['operator.logLevel', 'verbose', '/operator/logLevel'],
    ['operator.watchNamespaces', ['Not_A_Namespace'], '/operator/watchNamespaces/0'],
    ['operator.watchNamespaces', 'ml', '/operator/watchNamespaces'],
    ['operator.leaderElect', 'yes', '/operator/leaderElect'],
    ['operator.extraArgs', ['no-dashes'], '/operator/extraArgs/0'],
    ['metrics.port', 70000, '/metrics/port'],
    ['metrics.port', 8081, '/metrics/port'],
    ['metrics.serviceMonitor.interval', 'often', '/metrics/serviceMonitor/interval'],
    ['podDisruptionBudget.minAvailable', 'half', '/podDisruptionBudget/minAvailable'],
    ['replicaCunt', 2, '/replicaCunt'],
    ['image.pullPolicyy', 'Always', '/image/pullPolicyy'],
  ])('rejects %s = %j, naming %s', (path, value, where) => {
    expect(paths(errorsOf(withValue(path, value)))).toContain(where);
  });

  it('rejects several replicas without leader election (two reconcilers would fight)', () => {
    const values = withValue('operator.leaderElect', false);
    expect(paths(errorsOf(values))).toContain('/replicaCount');
    values.replicaCount = 1;
    expect(errorsOf(values)).toEqual([]);
  });

  it.each([
    ['operator.watchNamespaces', ['ml', 'batch-jobs']],
    ['image.tag', '1.2.3'],
    ['podDisruptionBudget.minAvailable', '50%'],
    [
      'topologySpreadConstraints',
      [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }],
    ],
    ['crds.managed', true],
  ])('accepts %s = %j', (path, value) => {
    expect(errorsOf(withValue(path, value))).toEqual([]);
  });
});
