import { describe, expect, test } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { pino } from 'pino';
import { withDefaults } from '../../src/api/servingstack.ts';
import { classify } from '../../src/reconcile/errors.ts';
import { EventRecorder, eventName, type StackEvent } from '../../src/reconcile/events.ts';
import { stackOf } from './fixtures.ts';

function recorder() {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const sent: { reason: string; note: string }[] = [];
  const api = {
    createNamespacedEvent: async (p: { body: { reason?: string; note?: string } }) => {
      sent.push({ reason: p.body.reason ?? '', note: p.body.note ?? '' });
      return p.body;
    },
  };
  const rec = new EventRecorder(api as never, 'test', () => new Date(t), pino({ level: 'silent' }));
  return { rec, sent, advance: (ms: number) => (t += ms) };
}

const stack = withDefaults(stackOf());
const warning = (note: string): StackEvent => ({
  type: 'Warning',
  reason: 'ChildConflict',
  action: 'Apply',
  note,
});

describe('EventRecorder', () => {
  test('a standing warning is posted when it appears or changes, not while it stands', async () => {
    const { rec, sent, advance } = recorder();
    await rec.standing(stack, [warning('a')], true);
    advance(3_600_000);
    await rec.standing(stack, [warning('a')], true);
    await rec.standing(stack, [warning('b')], true);
    expect(sent.map((e) => e.note)).toEqual(['a', 'b']);
  });

  test('a warning that goes and comes back is posted again; a cut-short pass forgets nothing', async () => {
    const { rec, sent } = recorder();
    await rec.standing(stack, [warning('a')], true);
    await rec.standing(stack, [], false);
    await rec.standing(stack, [warning('a')], true);
    await rec.standing(stack, [], true);
    await rec.standing(stack, [warning('a')], true);
    expect(sent.map((e) => e.note)).toEqual(['a', 'a']);
  });

  test('a new process (a restart, a new leader) takes the warnings the conditions already show as posted', async () => {
    const { rec, sent } = recorder();
    await rec.pass(stack, [], [warning('a')], true, () => true);
    await rec.pass(stack, ['updated Service sentiment-latency'], [warning('a')], true, () => true);
    await rec.pass(stack, [], [warning('a'), warning('b')], true, (w) => w.note === 'a');
    expect(sent).toEqual([
      { reason: 'Applied', note: 'updated Service sentiment-latency' },
      { reason: 'ChildConflict', note: 'b' },
    ]);
    const other = withDefaults(stackOf({}, 'other'));
    await rec.pass(other, [], [warning('c')], true, () => false);
    expect(sent.map((e) => e.note)).toEqual(['updated Service sentiment-latency', 'b', 'c']);
  });

  test('at most 10 events a minute per stack; others are not held back', async () => {
    const { rec, sent, advance } = recorder();
    for (let i = 0; i < 15; i++)
      await rec.record(stack, { ...warning(`n${i}`), type: 'Normal', reason: 'Applied' });
    expect(sent).toHaveLength(10);
    await rec.record(withDefaults(stackOf({}, 'other')), warning('x'));
    expect(sent).toHaveLength(11);
    advance(60_000);
    await rec.record(stack, warning('later'));
    expect(sent).toHaveLength(12);
  });

  test('what it keeps about a stack goes with the stack; a namesake starts afresh', async () => {
    const { rec, sent } = recorder();
    await rec.standing(stack, [warning('a')], true);
    expect(rec.remembered).toBe(1);
    rec.forget('ml', 'sentiment');
    expect(rec.remembered).toBe(0);
    const again = { ...stack, uid: 'uid-2' };
    await rec.standing(again, [warning('a')], true);
    expect(sent).toHaveLength(2);
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
