// Quantities in the API server's canonical form (apimachinery resource.Quantity: parsed, rounded
// up to nano units, then written with the largest suffix that keeps the number whole), so a desired
// object equals what the server stores: `cpu: 0.5` is stored as 500m, `memory: 1024Mi` as 1Gi, an
// HPA target of 1000 as 1k. Without this, every pass would see a difference that is not one.

const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;
const DECIMAL_EXP: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_EXP: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_SUFFIX = new Map(Object.entries(DECIMAL_EXP).map(([s, e]) => [e, s]));
const BINARY_SUFFIX = new Map(Object.entries(BINARY_EXP).map(([s, e]) => [e, s]));
const NANO = 10n ** 9n;

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/** A quantity's value in whole units, rounded up as apimachinery's Quantity.Value() does: 16Gi is 17179869184. */
export function quantityValue(input: string | number): bigint {
  const text = String(input);
  const m = QUANTITY.exec(text);
  const [, sign = '', whole = '', frac = '', suffix = ''] = m ?? [];
  if (!m || whole + frac === '') throw new RangeError(`not a quantity: ${JSON.stringify(input)}`);
  const digits = BigInt(whole + frac);
  const value =
    suffix in BINARY_EXP
      ? ceilDiv(digits * 2n ** BigInt(BINARY_EXP[suffix] ?? 0), 10n ** BigInt(frac.length))
      : (() => {
          const shift =
            -frac.length + (/^[eE]/.test(suffix) ? Number(suffix.slice(1)) : (DECIMAL_EXP[suffix] ?? 0));
          return shift >= 0 ? digits * 10n ** BigInt(shift) : ceilDiv(digits, 10n ** BigInt(-shift));
        })();
  return sign === '-' ? -value : value;
}

/** The canonical string of a Kubernetes quantity (a string such as "0.5", "1024Mi", "1e3", or an integer). */
export function canonicalQuantity(input: string | number): string {
  const text = String(input);
  const m = QUANTITY.exec(text);
  const [, sign = '', whole = '', frac = '', suffix = ''] = m ?? [];
  if (!m || whole + frac === '') throw new RangeError(`not a quantity: ${JSON.stringify(input)}`);
  const digits = BigInt(whole + frac);
  const binary = suffix in BINARY_EXP;
  const exponentForm = /^[eE]/.test(suffix);
  // The absolute value in nano units, rounded up as the API server rounds (some is never none).
  let nano: bigint;
  if (binary) {
    nano = ceilDiv(digits * 2n ** BigInt(BINARY_EXP[suffix] ?? 0) * NANO, 10n ** BigInt(frac.length));
  } else {
    const shift = 9 - frac.length + (exponentForm ? Number(suffix.slice(1)) : (DECIMAL_EXP[suffix] ?? 0));
    nano = shift >= 0 ? digits * 10n ** BigInt(shift) : ceilDiv(digits, 10n ** BigInt(-shift));
  }
  if (nano === 0n) return '0';
  const neg = sign === '-' ? '-' : '';

  // Binary form only for whole numbers of at least 1024; anything else is written in decimal.
  if (binary && nano % NANO === 0n && nano / NANO >= 1024n) {
    let n = nano / NANO;
    let exp = 0;
    while (n % 1024n === 0n && exp < 60) {
      n /= 1024n;
      exp += 10;
    }
    return `${neg}${n}${BINARY_SUFFIX.get(exp) ?? ''}`;
  }
  // Trailing zeros go into the exponent, which then steps down to a multiple of 3.
  let mantissa = nano;
  let exp = -9;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exp += 1;
  }
  while (exp % 3 !== 0 || (!exponentForm && exp > 18)) {
    mantissa *= 10n;
    exp -= 1;
  }
  if (exponentForm) return `${neg}${mantissa}${exp === 0 ? '' : `e${exp}`}`;
  return `${neg}${mantissa}${DECIMAL_SUFFIX.get(exp) ?? ''}`;
}

/** Canonical form of a non-negative whole number of milli-units, e.g. 500 → "500m", 1_000_000 → "1k". */
export function canonicalMilli(milli: number): string {
  if (!Number.isSafeInteger(milli) || milli < 0)
    throw new RangeError(`quantity must be a non-negative integer of milli-units, got ${milli}`);
  return canonicalQuantity(`${milli}m`);
}
