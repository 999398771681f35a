// Quantities in the API server's canonical form, so the desired object equals what is stored
// (a target of "1000" is stored as "1k") and an unchanged HPA compares equal without a write.
const SUFFIXES: [number, string][] = [
  [18, 'E'],
  [15, 'P'],
  [12, 'T'],
  [9, 'G'],
  [6, 'M'],
  [3, 'k'],
  [0, ''],
];

/** Canonical decimal-SI form of a non-negative number of milli-units, e.g. 500 → "500m", 1_000_000 → "1k". */
export function canonicalMilli(milli: number): string {
  if (!Number.isSafeInteger(milli) || milli < 0)
    throw new RangeError(`quantity must be a non-negative integer of milli-units, got ${milli}`);
  if (milli === 0) return '0';
  if (milli % 1000 !== 0) return `${milli}m`;
  const units = BigInt(milli / 1000);
  for (const [exp, suffix] of SUFFIXES) {
    const div = 10n ** BigInt(exp);
    if (units % div === 0n) return `${units / div}${suffix}`;
  }
  return String(units);
}
