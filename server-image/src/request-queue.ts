// The batcher's queue: requests in priority order (real-time, then those without a priority, then
// batch), each level first come first served; the bound is counted in rows, as a batch is.
export const PRIORITIES = ['real-time', 'default', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];
/** Index in PRIORITIES: lower goes first. */
export const priorityLevel = (p: Priority): number => PRIORITIES.indexOf(p);

export interface Queued {
  rows: number;
  /** Only requests with equal keys share a batch (equal non-batch shapes). */
  key: string;
  /** Index in PRIORITIES. */
  level: number;
}

export class RequestQueue<T extends Queued> {
  private readonly items: T[] = [];
  private readonly rowsByKey = new Map<string, number>();
  /** Rows queued, all keys and levels. */
  rows = 0;

  get length(): number {
    return this.items.length;
  }

  /** The next to run: the oldest of the highest level. */
  head(): T | undefined {
    return this.items[0];
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.items[Symbol.iterator]();
  }

  push(item: T): void {
    // After the last item of the same or a higher level; usually that is the end.
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.level > item.level) i--;
    this.items.splice(i, 0, item);
    this.count(item, 1);
  }

  /** Removes an item wherever it is; false when it was not queued. */
  remove(item: T): boolean {
    const i = this.items.indexOf(item);
    if (i < 0) return false;
    this.items.splice(i, 1);
    this.count(item, -1);
    return true;
  }

  rowsOf(key: string): number {
    return this.rowsByKey.get(key) ?? 0;
  }

  /** Rows that run before a new request of `level`: those of the same or a higher level. */
  rowsAhead(level: number): number {
    let n = 0;
    for (const item of this.items) {
      if (item.level > level) break;
      n += item.rows;
    }
    return n;
  }

  /**
   * A batch: `seed` first, then the queue's other items of its key in queue order while they fit
   * in `maxRows`, stopping at the first that does not, so that a later, smaller request never
   * overtakes an earlier one of its key. Items `fits` refuses are passed over (left queued).
   */
  take(seed: T, maxRows: number, fits: (next: T) => boolean): T[] {
    const batch = [seed];
    let rows = seed.rows;
    for (const item of this.items) {
      if (rows >= maxRows) break;
      if (item === seed || item.key !== seed.key) continue;
      if (rows + item.rows > maxRows) break;
      if (!fits(item)) continue;
      batch.push(item);
      rows += item.rows;
    }
    for (const item of batch) this.remove(item);
    return batch;
  }

  /**
   * The newest items of levels below `level` whose rows make room for `rows` more under
   * `maxRows`; undefined when even all of them would not.
   */
  evictable(level: number, rows: number, maxRows: number): T[] | undefined {
    const victims: T[] = [];
    let free = maxRows - this.rows;
    for (let i = this.items.length - 1; i >= 0 && free < rows; i--) {
      const item = this.items[i]!;
      if (item.level <= level) break;
      victims.push(item);
      free += item.rows;
    }
    return free >= rows ? victims : undefined;
  }

  private count(item: T, sign: 1 | -1): void {
    this.rows += sign * item.rows;
    const left = this.rowsOf(item.key) + sign * item.rows;
    if (left === 0) this.rowsByKey.delete(item.key);
    else this.rowsByKey.set(item.key, left);
  }
}
