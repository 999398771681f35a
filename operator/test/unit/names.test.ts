import { describe, expect, test } from '@jest/globals';
import { childNames, dnsLabel, labels, labelValue, selectorLabels } from '../../src/builders/names.ts';
import { defaulted } from './fixtures.ts';

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe('names and labels', () => {
  test('short names are kept as they are', () => {
    const s = defaulted();
    expect(childNames.pool(s, 'throughput')).toBe('sentiment-throughput');
    expect(childNames.pool(s, 'latency')).toBe('sentiment-latency');
    expect(childNames.routing(s)).toBe('sentiment');
    expect(childNames.canary(s)).toBe('sentiment-canary');
  });

  test('long names are cut to 63 with a hash, stay unique and keep the suffix', () => {
    const a = dnsLabel('a'.repeat(100), 'throughput');
    const b = dnsLabel(`${'a'.repeat(99)}b`, 'throughput');
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(DNS1035);
    expect(a.endsWith('-throughput')).toBe(true);
    expect(a).not.toBe(b);
    expect(dnsLabel('a'.repeat(100), 'throughput')).toBe(a);
  });

  test('names that are not DNS-1035 labels (dots, leading digit) are made valid', () => {
    for (const n of ['my.model', '1st', 'x'.repeat(57) + '.y']) {
      const out = dnsLabel(n, 'latency');
      expect(out).toMatch(DNS1035);
      expect(out.length).toBeLessThanOrEqual(63);
    }
  });

  test('label values fit in 63 characters', () => {
    expect(labelValue('sentiment')).toBe('sentiment');
    const long = labelValue('b'.repeat(200));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
  });

  test('children carry the app.kubernetes.io labels; the selector is a stable subset', () => {
    const s = defaulted();
    expect(labels(s, 'latency')).toEqual({
      'app.kubernetes.io/name': 'servingstack',
      'app.kubernetes.io/instance': 'sentiment',
      'app.kubernetes.io/managed-by': 'servingstack-operator',
      'app.kubernetes.io/component': 'latency',
      'servingstack.dev/pool': 'latency',
    });
    expect(labels(s, 'routing')['servingstack.dev/pool']).toBeUndefined();
    expect(labels(s, 'throughput')).toMatchObject(selectorLabels(s, 'throughput'));
  });
});
