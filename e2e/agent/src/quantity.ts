const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** A Kubernetes resource quantity ("500m", "2", "64Mi", "1e3") as a number of base units. */
export function parseQuantity(text: string): number {
  const match = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/.exec(text.trim());
  const scale = SUFFIX[match?.[2] ?? ''];
  if (!match || scale === undefined || Number.isNaN(Number(match[1]))) {
    throw new Error(`${JSON.stringify(text)} is not a resource quantity`);
  }
  return Number(match[1]) * scale;
}
