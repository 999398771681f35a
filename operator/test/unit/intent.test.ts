// Change detection: an intent is in effect when the child carries its digest and still holds every
// value it sets. Each case here is one the old subset check got wrong or one it must keep right.
import { describe, expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { holds, inEffect, INTENT_ANNOTATION, withIntent } from '../../src/reconcile/intent.ts';

const deployment = (spec: Record<string, unknown>): KubernetesObject & { spec: Record<string, unknown> } => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', namespace: 'ml', labels: { a: '1' } },
  spec,
});

/** What the server holds after applying `intent`: the intent plus what others and defaults add. */
const liveAfter = (intent: KubernetesObject & { spec: Record<string, unknown> }) => ({
  ...structuredClone(intent),
  apiVersion: undefined,
  kind: undefined,
  metadata: { ...structuredClone(intent.metadata), uid: 'u', resourceVersion: '5' },
  status: { replicas: 1 },
});

describe('inEffect', () => {
  const before = withIntent(
    deployment({ replicas: 2, template: { spec: { nodeSelector: { pool: 'gpu' } } } }),
  );

  test('the same intent on a child that holds it: in effect (no write)', () => {
    expect(
      inEffect(
        withIntent(deployment({ replicas: 2, template: { spec: { nodeSelector: { pool: 'gpu' } } } })),
        liveAfter(before),
      ),
    ).toBe(true);
  });

  test('a field removed from the intent: not in effect, although the child holds everything the new intent sets', () => {
    const after = withIntent(deployment({ replicas: 2, template: { spec: {} } }));
    const { apiVersion: _a, kind: _k, ...rest } = after;
    expect(holds({ ...rest, metadata: { ...after.metadata, annotations: {} } }, liveAfter(before))).toBe(
      true,
    );
    expect(inEffect(after, liveAfter(before))).toBe(false);
  });

  test('a value someone else changed on a field the intent sets: not in effect (the apply puts it back)', () => {
    const live = liveAfter(before);
    (live.spec as { replicas: number }).replicas = 5;
    expect(inEffect(before, live)).toBe(false);
  });

  test('a child without the digest (made before it existed, or the annotation edited away): not in effect', () => {
    const live = liveAfter(before);
    delete (live.metadata.annotations as Record<string, string>)[INTENT_ANNOTATION];
    expect(inEffect(before, live)).toBe(false);
  });

  test('the digest does not depend on key order', () => {
    const a = withIntent({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's' },
      spec: { a: 1, b: 2 },
    } as KubernetesObject);
    const b = withIntent({
      kind: 'Service',
      apiVersion: 'v1',
      spec: { b: 2, a: 1 },
      metadata: { name: 's' },
    } as KubernetesObject);
    expect(a.metadata?.annotations).toEqual(b.metadata?.annotations);
  });
});

describe('holds', () => {
  test('fields others add (defaults, status, their own annotations) do not matter', () => {
    expect(holds({ spec: { a: 1 } }, { spec: { a: 1, b: 2 }, status: {} })).toBe(true);
  });

  test('lists of named items match by name, so an item someone else adds does not count', () => {
    const env = [{ name: 'A', value: '1' }];
    expect(
      holds(
        { env },
        {
          env: [
            { name: 'INJECTED', value: 'x' },
            { name: 'A', value: '1' },
          ],
        },
      ),
    ).toBe(true);
    expect(holds({ env }, { env: [{ name: 'A', value: '2' }] })).toBe(false);
    expect(holds({ env }, { env: [] })).toBe(false);
  });

  test('a list the server keeps atomic matches item by item even when its items have names', () => {
    const parentRefs = [{ name: 'gw' }];
    expect(holds({ spec: { parentRefs } }, { spec: { parentRefs: [{ name: 'gw', kind: 'Gateway' }] } })).toBe(
      true,
    );
    expect(
      holds({ spec: { parentRefs } }, { spec: { parentRefs: [{ name: 'gw' }, { name: 'other' }] } }),
    ).toBe(false);
  });

  test('other lists match item by item, length included', () => {
    expect(holds({ t: [{ key: 'a' }] }, { t: [{ key: 'a' }, { key: 'b' }] })).toBe(false);
    expect(holds({ t: [{ key: 'a' }] }, { t: [{ key: 'a', x: 1 }] })).toBe(true);
  });

  test('dates from a list response compare with the strings an intent holds', () => {
    expect(holds({ t: '2026-01-01T00:00:00.000Z' }, { t: new Date('2026-01-01T00:00:00Z') })).toBe(true);
  });
});
