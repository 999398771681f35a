// Supervised informers with a fake list function, a fake watch opener and manual timers.
import { describe, expect, test } from '@jest/globals';
import { ApiException, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import {
  MAX_NOT_SERVED_BACKOFF_MS,
  supervisedInformer,
  type WatchOpener,
} from '../../src/controller/informers.ts';
import { ManualClock, settle } from '../support/manual-clock.ts';

type List = KubernetesListObject<KubernetesObject>;
const emptyList = (): List => ({
  apiVersion: 'v1',
  kind: 'List',
  metadata: { resourceVersion: '7' },
  items: [],
});
const notServed = () =>
  new ApiException(404, 'Not Found', '{"message":"the server could not find the requested resource"}', {});

class FakeWatch implements WatchOpener {
  readonly opened: { params: Record<string, unknown>; request: AbortController }[] = [];
  /** When set, opening a watch waits for this. */
  hold: Promise<void> | undefined;

  async watch(_path: string, params: Record<string, unknown>): Promise<AbortController> {
    await this.hold;
    const request = new AbortController();
    this.opened.push({ params, request });
    return request;
  }

  get open(): number {
    return this.opened.filter((o) => !o.request.signal.aborted).length;
  }
}

function logCapture() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, warnings: () => lines.filter((l) => l.level === 40) };
}

function informer(
  list: () => Promise<List>,
  optional: boolean,
  watch = new FakeWatch(),
  clock = new ManualClock(),
) {
  const { log, warnings } = logCapture();
  let restarts = 0;
  const inf = supervisedInformer<KubernetesObject>({
    path: '/apis/gateway.networking.k8s.io/v1/httproutes',
    list,
    optional,
    watch,
    log,
    onRestart: () => (restarts += 1),
    timers: clock,
  });
  return { inf, watch, clock, warnings, restarts: () => restarts };
}

describe('supervised informers', () => {
  test('a kind the cluster does not serve is looked for again with a capped backoff, and said once', async () => {
    let lists = 0;
    const h = informer(async () => {
      lists += 1;
      throw notServed();
    }, true);
    await h.inf.start();
    await h.clock.advance(60 * 60_000);
    const delays = h.clock.delays;
    expect(delays.slice(0, 4)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(Math.max(...delays)).toBe(MAX_NOT_SERVED_BACKOFF_MS);
    // An hour of looking: about a dozen lists, not one every 30 seconds.
    expect(lists).toBeLessThan(25);
    expect(h.warnings()).toHaveLength(1);
    await h.inf.stop();
  });

  test('a missing optional kind counts as synced; a missing required one (the ServingStack CRD) does not', async () => {
    const optional = informer(async () => Promise.reject(notServed()), true);
    const required = informer(async () => Promise.reject(notServed()), false);
    await optional.inf.start();
    await required.inf.start();
    expect(optional.inf.synced()).toBe(true);
    expect(required.inf.synced()).toBe(false);
    await optional.inf.stop();
    await required.inf.stop();
  });

  test('once listed, it watches with bookmarks and is synced', async () => {
    const h = informer(async () => emptyList(), false);
    await h.inf.start();
    expect(h.inf.synced()).toBe(true);
    expect(h.watch.opened[0]?.params).toMatchObject({ allowWatchBookmarks: true, resourceVersion: '7' });
    await h.inf.stop();
    expect(h.watch.open).toBe(0);
  });

  test('stop() while the list is under way: no watch opens afterwards', async () => {
    let answer: (l: List) => void = () => {};
    const h = informer(() => new Promise<List>((r) => (answer = r)), false);
    const starting = h.inf.start();
    await settle();
    await h.inf.stop();
    answer(emptyList());
    await starting;
    await settle();
    expect(h.watch.open).toBe(0);
  });

  test('stop() while a watch is being opened: it is closed as soon as it opens', async () => {
    let release: () => void = () => {};
    const watch = new FakeWatch();
    watch.hold = new Promise<void>((r) => (release = r));
    const h = informer(async () => emptyList(), false, watch);
    const starting = h.inf.start();
    await settle();
    await h.inf.stop();
    release();
    await starting;
    await settle();
    expect(watch.opened).toHaveLength(1);
    expect(watch.open).toBe(0);
  });

  test('a pending restart does not fire after stop()', async () => {
    let lists = 0;
    const h = informer(async () => {
      lists += 1;
      throw new ApiException(500, 'boom', '', {});
    }, false);
    await h.inf.start();
    await h.inf.stop();
    await h.clock.advance(60_000);
    expect(lists).toBe(1);
    expect(h.watch.opened).toHaveLength(0);
  });
});
