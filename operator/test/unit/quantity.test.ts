// canonicalQuantity against the forms apimachinery's resource.Quantity serialises (its
// quantity_test.go cases); the e2e suite checks the fields the operator sets against a real API server.
import { describe, expect, test } from '@jest/globals';
import { InvalidSpecError } from '../../src/builders/model-source.ts';
import { buildDeployment } from '../../src/builders/deployment.ts';
import { canonicalQuantity } from '../../src/builders/quantity.ts';
import { ctx, defaulted } from './fixtures.ts';

describe('canonicalQuantity', () => {
  test.each([
    ['0', '0'],
    ['0n', '0'],
    ['0.0', '0'],
    ['1', '1'],
    [2, '2'],
    ['0.5', '500m'],
    ['1.5', '1500m'],
    ['100m', '100m'],
    ['1000m', '1'],
    ['1500', '1500'],
    ['2000', '2k'],
    ['10000k', '10M'],
    ['1.1M', '1100k'],
    ['0.0001', '100u'],
    ['1n', '1n'],
    ['0.1n', '1n'],
    ['1.0001', '1000100u'],
    ['1Ki', '1Ki'],
    ['1024Mi', '1Gi'],
    ['1000Mi', '1000Mi'],
    ['1.5Gi', '1536Mi'],
    ['0.5Gi', '512Mi'],
    ['8Mi', '8Mi'],
    ['512Ki', '512Ki'],
    ['1023', '1023'],
    ['0.5Ki', '512'],
    ['0.1Ki', '102400m'],
    ['1073741824', '1073741824'],
    ['1e3', '1e3'],
    ['1E3', '1e3'],
    ['1.5e3', '1500'],
    ['12e6', '12e6'],
    ['-1', '-1'],
    ['-0.5', '-500m'],
  ] as [string | number, string][])('%s -> %s', (input, out) => {
    expect(canonicalQuantity(input)).toBe(out);
  });

  test.each(['', 'lots', '1.2.3', 'Gi', '1 Gi', '1gi', '1e'])('refuses %j', (bad) => {
    expect(() => canonicalQuantity(bad)).toThrow(RangeError);
  });
});

describe('the Deployment’s resources are in canonical form', () => {
  test('cpu and memory as the API server stores them', () => {
    const d = buildDeployment(
      defaulted({ throughput: { resources: { cpu: '0.5', memory: '1024Mi' } } }),
      'throughput',
      ctx,
    );
    const r = d.spec?.template.spec?.containers[0]?.resources;
    expect(r?.requests).toEqual({ cpu: '500m', memory: '1Gi' });
    expect(r?.limits).toMatchObject({ memory: '1Gi', 'nvidia.com/gpu': '1' });
  });

  test('a value the CRD should have refused is an invalid spec naming the field', () => {
    expect(() =>
      buildDeployment(defaulted({ latency: { resources: { cpu: 'lots' } } }), 'latency', ctx),
    ).toThrow(new InvalidSpecError('spec.latency.resources.cpu is not a quantity: "lots"'));
  });
});
