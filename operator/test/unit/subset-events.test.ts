import { describe, expect, test } from '@jest/globals';
import type { EventsV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { EventRecorder, eventName } from '../../src/reconcile/events.ts';
import { classify } from '../../src/reconcile/errors.ts';
import { isSubset } from '../../src/reconcile/subset.ts';
import { ApiException } from '@kubernetes/client-node';
import { PERMISSIONS } from '../../src/rbac/permissions.ts';
import { CHILD_KINDS } from '../../src/reconcile/kinds.ts';

describe('isSubset (skip writes for unchanged children)', () => {
  const desired = { spec: { replicas: 2, template: { env: [{ name: 'A', value: '1' }] } } };
  test('extra live fields (defaults, status) do not matter', () => {
    expect(
      isSubset(desired, {
        spec: { replicas: 2, paused: false, template: { env: [{ name: 'A', value: '1', x: 1 }] } },
        status: {},
      }),
    ).toBe(true);
  });
  test('a changed or removed field, or a different list length, does', () => {
    expect(isSubset(desired, { spec: { replicas: 3, template: { env: [{ name: 'A', value: '1' }] } } })).toBe(
      false,
    );
    expect(isSubset(desired, { spec: { template: { env: [{ name: 'A', value: '1' }] } } })).toBe(false);
    expect(isSubset(desired, { spec: { replicas: 2, template: { env: [] } } })).toBe(false);
    expect(
      isSubset(desired, {
        spec: { replicas: 2, template: { env: [{ name: 'A', value: '1' }, { name: 'B' }] } },
      }),
    ).toBe(false);
  });
});

describe('EventRecorder.admit (dedupe and rate limit)', () => {
  let t = 0;
  const rec = new EventRecorder({} as EventsV1Api, 'test', () => new Date(t), pino({ level: 'silent' }));
  const e = (note: string) => ({ type: 'Normal' as const, reason: 'Applied', action: 'Apply', note });
  test('the same event within 10 minutes is sent once', () => {
    expect(rec.admit('u1', e('x'))).toBe(true);
    expect(rec.admit('u1', e('x'))).toBe(false);
    t += 10 * 60_000;
    expect(rec.admit('u1', e('x'))).toBe(true);
  });
  test('at most 10 events per stack per minute', () => {
    t += 3_600_000;
    const sent = Array.from({ length: 15 }, (_, i) => rec.admit('u2', e(`n${i}`))).filter(Boolean).length;
    expect(sent).toBe(10);
    expect(rec.admit('u3', e('other stack'))).toBe(true);
    t += 60_000;
    expect(rec.admit('u2', e('later'))).toBe(true);
  });
});

describe('eventName', () => {
  test('a valid DNS subdomain, unique per call, within 253 characters', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const a = eventName('sentiment', at);
    expect(a).toMatch(/^sentiment\.[0-9a-f]+$/);
    expect(eventName('sentiment', at)).not.toBe(a);
    expect(eventName('x'.repeat(253), at).length).toBeLessThanOrEqual(253);
  });
});

describe('classify', () => {
  test.each([
    [new ApiException(404, 'x', '', {}), 'notFound'],
    [new ApiException(422, 'x', '', {}), 'rejected'],
    [new ApiException(403, 'x', '', {}), 'rejected'],
    [new ApiException(500, 'x', '', {}), 'transient'],
    [new ApiException(429, 'x', '', {}), 'transient'],
    [new Error('connect ECONNREFUSED'), 'transient'],
    [new Error('Unrecognized API version and kind: gateway.networking.k8s.io/v1 HTTPRoute'), 'missingKind'],
  ])('%s -> %s', (err, c) => {
    expect(classify(err)).toBe(c);
  });
});

describe('RBAC permission list', () => {
  test('covers every owned kind with the verbs apply, prune and watch need', () => {
    for (const k of CHILD_KINDS) {
      const group = k.apiVersion.includes('/') ? k.apiVersion.split('/')[0] : '';
      const p = PERMISSIONS.find((x) => x.apiGroup === group && x.resource === k.plural);
      expect({ kind: k.kind, verbs: p?.verbs }).toEqual({
        kind: k.kind,
        verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
      });
    }
  });
});
