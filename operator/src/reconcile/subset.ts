// Whether a live object already holds every field the operator wants, so an unchanged child costs
// no API write. Fields others add (defaults, status, other managers) are ignored; a field the
// operator sets that someone changed makes this false, and the next apply puts it back.

function timeString(v: unknown): unknown {
  return v instanceof Date ? v.toISOString() : v;
}

export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((d, i) => isSubset(d, live[i]));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    const l = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, l[k]));
  }
  return desired === timeString(live);
}
