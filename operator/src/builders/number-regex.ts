// Regular expressions over decimal header values, for routers that match headers by regex
// (Gateway API RegularExpression, ingress-nginx canary-by-header-pattern). A value matches when
// it is a whole number of milliseconds (leading zeros allowed) in the range; anything else —
// empty, negative, fractional, text — matches neither, so it falls to the default pool.
// The syntax is the common subset of RE2, Go regexp and PCRE.

function digitClass(lo: number, hi: number): string {
  if (lo === hi) return String(lo);
  if (lo === 0 && hi === 9) return '[0-9]';
  return `[${lo}-${hi}]`;
}

function repeat(cls: string, n: number): string {
  if (n === 0) return '';
  return n === 1 ? cls : `${cls}{${n}}`;
}

/** Alternatives matching exactly the numbers in [lo, hi], both written with the same number of digits. */
function sameLength(lo: string, hi: string): string[] {
  if (lo.length === 0) return [''];
  const a = Number(lo[0]);
  const b = Number(hi[0]);
  const loRest = lo.slice(1);
  const hiRest = hi.slice(1);
  if (a === b) return sameLength(loRest, hiRest).map((s) => `${a}${s}`);
  const zeros = '0'.repeat(loRest.length);
  const nines = '9'.repeat(hiRest.length);
  if (loRest === zeros && hiRest === nines) return [digitClass(a, b) + repeat('[0-9]', loRest.length)];
  const out: string[] = [];
  let from = a;
  let to = b;
  if (loRest !== zeros) {
    out.push(...sameLength(loRest, nines).map((s) => `${a}${s}`));
    from = a + 1;
  }
  const tailFull = hiRest === nines;
  if (!tailFull) to = b - 1;
  if (from <= to) out.push(digitClass(from, to) + repeat('[0-9]', loRest.length));
  if (!tailFull) out.push(...sameLength(zeros, hiRest).map((s) => `${b}${s}`));
  return out;
}

/** Alternatives matching the canonical decimal forms of every integer in [lo, hi]. */
function range(lo: number, hi: number): string[] {
  const out: string[] = [];
  let start = lo;
  while (start <= hi) {
    const digits = String(start).length;
    const end = Math.min(hi, 10 ** digits - 1);
    out.push(...sameLength(String(start), String(end)));
    start = end + 1;
  }
  return out;
}

function anchored(alts: string[]): string {
  // Leading zeros are stripped by `0*`; the canonical zero is `0` itself.
  return `^0*(${alts.join('|')})$`;
}

function checkThreshold(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
}

/** Matches whole numbers strictly below `n` (n ≥ 1). */
export function lessThanRegex(n: number): string {
  checkThreshold(n, 'lessThanRegex threshold');
  if (n < 1) throw new RangeError('lessThanRegex threshold must be at least 1: nothing is below 0');
  const alts = range(1, n - 1);
  // Zero: after `0*` has taken the leading zeros, the last 0 is the number itself.
  return anchored(['0', ...alts]);
}

/** Matches whole numbers strictly above `n`, however many digits they have. */
export function greaterThanRegex(n: number): string {
  checkThreshold(n, 'greaterThanRegex threshold');
  const start = n + 1;
  const digits = String(start).length;
  const alts = range(start, 10 ** digits - 1);
  alts.push(`[1-9][0-9]{${digits},}`);
  return anchored(alts);
}
