// The few calls of Prometheus's HTTP API (v1) that Grafana makes for a dashboard: range queries
// for the panels, label values for the template variables, and the scrape interval (what
// Grafana's data source setting "Scrape interval" says) from the running configuration.
// An error answer throws with Prometheus's own message and the query that caused it.

export interface RangeSeries {
  metric: Record<string, string>;
  /** [unix seconds, value]; Prometheus sends values as strings ("NaN" for a quantile of nothing). */
  values: [number, string][];
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
}

async function get<T>(base: string, path: string, params: Record<string, string>, what: string): Promise<T> {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
  let answer: ApiAnswer<T>;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    answer = (await res.json()) as ApiAnswer<T>;
  } catch (err) {
    throw new Error(`Prometheus at ${base}: ${what}: ${(err as Error).message}`, { cause: err });
  }
  if (answer.status !== 'success' || answer.data === undefined) {
    throw new Error(
      `Prometheus at ${base}: ${what}: ${answer.errorType ?? 'error'}: ${answer.error ?? 'no data'}`,
    );
  }
  return answer.data;
}

export async function queryRange(
  base: string,
  query: string,
  { startS, endS, stepS }: { startS: number; endS: number; stepS: number },
): Promise<RangeSeries[]> {
  const data = await get<{ resultType: string; result: RangeSeries[] }>(
    base,
    '/api/v1/query_range',
    { query, start: String(startS), end: String(endS), step: String(stepS) },
    `query_range ${query}`,
  );
  if (data.resultType !== 'matrix')
    throw new Error(`query_range ${query}: a ${data.resultType}, not a matrix`);
  return data.result;
}

/** The values of `label` over the series `match` selects (all series without one) within the range. */
export function labelValues(
  base: string,
  label: string,
  match: string | undefined,
  { startS, endS }: { startS: number; endS: number },
): Promise<string[]> {
  return get<string[]>(
    base,
    `/api/v1/label/${encodeURIComponent(label)}/values`,
    { ...(match !== undefined && { 'match[]': match }), start: String(startS), end: String(endS) },
    `values of label ${label}${match === undefined ? '' : ` over ${match}`}`,
  );
}

/** A Prometheus duration ("2s", "1m30s", "500ms") in seconds; undefined when it is not one. */
export function durationS(text: string): number | undefined {
  const units: Record<string, number> = {
    ms: 0.001,
    s: 1,
    m: 60,
    h: 3600,
    d: 86_400,
    w: 604_800,
    y: 31_536_000,
  };
  const parts = [...text.matchAll(/(\d+)(ms|[smhdwy])/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) return undefined;
  return parts.reduce((sum, m) => sum + Number(m[1]) * units[m[2]!]!, 0);
}

/** The global scrape interval of the running configuration, in seconds (Prometheus's default: 1m). */
export async function scrapeIntervalS(base: string): Promise<number> {
  const { yaml } = await get<{ yaml: string }>(base, '/api/v1/status/config', {}, 'its configuration');
  const m = /^global:\n(?:[ \t]+.*\n)*?[ \t]+scrape_interval:\s*(\S+)\s*$/m.exec(yaml);
  return (m && durationS(m[1]!)) || 60;
}
