// Comparing a status as the API server stores it with the one the operator computed: to skip a
// write that would change nothing, and to find fields the server still holds that the operator no
// longer sets (left by an older operator's merge patches, which server-side apply cannot remove).
import type { ServingStackStatus } from '../api/servingstack.ts';

/** Status equality as stored: times compared as strings, absent and empty lists alike. */
export function sameStatus(a: ServingStackStatus | undefined, b: ServingStackStatus): boolean {
  return JSON.stringify(canonical(a ?? {})) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * A JSON merge patch that makes `stored` hold no more than `wanted`: null for each field only
 * `stored` has, and `wanted`'s list for a list holding an item `wanted` lacks (merge patches
 * replace lists whole).
 * undefined when there is nothing to remove.
 */
export function staleFields(stored: unknown, wanted: unknown): Record<string, unknown> | undefined {
  if (!isPlain(stored) || !isPlain(wanted)) return undefined;
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stored)) {
    const w = wanted[k];
    if (w === undefined) patch[k] = null;
    else if (isPlain(v)) {
      const inner = staleFields(v, w);
      if (inner) patch[k] = inner;
    } else if (Array.isArray(v) && Array.isArray(w)) {
      // An item `wanted` lacks (a condition type no longer set); the server's order does not matter.
      const keep = new Set(w.map((x) => JSON.stringify(canonical(x))));
      if (v.some((x) => !keep.has(JSON.stringify(canonical(x))))) patch[k] = w;
    }
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
