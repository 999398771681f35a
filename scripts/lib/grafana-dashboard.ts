// The chart's Grafana dashboard as data, and its queries as Grafana would send them to
// Prometheus: template variables substituted (`$var`, `${var}`, `${var:format}`, `[[var]]`) and
// the built-in intervals (`$__interval`, `$__rate_interval`, `$__range`, ...) computed the way
// Grafana's Prometheus data source does. Pure: no I/O but loadDashboard's read of the file.
// Shared by the dashboard's e2e test and the demo's picture of the two pools.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DASHBOARD_FILE = 'charts/servingstack-operator/files/grafana-dashboard.json';

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  [setting: string]: unknown;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: DashboardTarget[];
  [setting: string]: unknown;
}

export interface TemplateVariable {
  name: string;
  type: string;
  query?: string | { query: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  templating: { list: TemplateVariable[] };
  panels: DashboardPanel[];
}

export function loadDashboard(repoRoot: string): Dashboard {
  return JSON.parse(readFileSync(join(repoRoot, DASHBOARD_FILE), 'utf8')) as Dashboard;
}

/** What a template variable is set to: some of its values, or "All". */
export type Selection = Record<string, readonly string[] | 'All'>;

/** The time range of a query, in milliseconds since the epoch. */
export interface TimeRange {
  fromMs: number;
  toMs: number;
}

export interface Intervals {
  /** $__interval in seconds: also the query_range step, as Grafana's Prometheus data source uses it. */
  intervalS: number;
  /** $__rate_interval in seconds. */
  rateIntervalS: number;
  /** The query_range start and end in seconds, aligned to the step as Grafana aligns them. */
  startS: number;
  endS: number;
}

// Grafana's rangeutil.roundInterval: the raw interval (ms) rounded to a duration people read.
const ROUNDED: readonly (readonly [below: number, ms: number])[] = [
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1_500, 1_000],
  [3_500, 2_000],
  [7_500, 5_000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [1_050_000, 600_000],
  [2_100_000, 1_800_000],
  [6_300_000, 3_600_000],
  [16_200_000, 10_800_000],
  [32_400_000, 21_600_000],
  [86_400_000, 43_200_000],
  [604_800_000, 86_400_000],
];

export function roundInterval(ms: number): number {
  return ROUNDED.find(([below]) => ms < below)?.[1] ?? 604_800_000;
}

/**
 * The intervals Grafana gives a panel's Prometheus queries over `range`: $__interval is the range
 * over the panel's data points (its width in pixels), rounded, and never below the data source's
 * scrape interval; $__rate_interval = max($__interval + scrape interval, 4 x scrape interval), so
 * a rate() window always holds at least four scrapes.
 */
export function grafanaIntervals(
  range: TimeRange,
  { scrapeIntervalS, maxDataPoints = 1000 }: { scrapeIntervalS: number; maxDataPoints?: number },
): Intervals {
  if (!(range.toMs > range.fromMs)) throw new Error(`empty time range ${range.fromMs}..${range.toMs}`);
  if (!(scrapeIntervalS > 0)) throw new Error(`scrape interval must be positive, not ${scrapeIntervalS}`);
  const intervalS =
    Math.max(roundInterval((range.toMs - range.fromMs) / maxDataPoints), scrapeIntervalS * 1000) / 1000;
  const rateIntervalS = Math.max(intervalS + scrapeIntervalS, 4 * scrapeIntervalS);
  const align = (ms: number) => Math.floor(ms / 1000 / intervalS) * intervalS;
  return { intervalS, rateIntervalS, startS: align(range.fromMs), endS: align(range.toMs) };
}

/** A duration in PromQL's notation: whole seconds where it can, milliseconds otherwise. */
const duration = (s: number) => (Number.isInteger(s) ? `${s}s` : `${Math.round(s * 1000)}ms`);

// Grafana's Prometheus data source: a value inside a regular expression (every multi-value or
// "All" variable) has the regex metacharacters escaped; a plain value only backslash and quote.
const regexEscape = (v: string) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
const plainEscape = (v: string) => v.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");

// Grafana's own formats, `${var:format}`: they replace the data source's escaping above. Only the
// ones a PromQL query can use; any other format throws rather than being sent unformatted.
const grafanaRegexEscape = (v: string) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
const FORMATS: Record<string, (values: readonly string[]) => string> = {
  regex: (vs) => (vs.length === 1 ? grafanaRegexEscape(vs[0]!) : `(${vs.map(grafanaRegexEscape).join('|')})`),
  pipe: (vs) => vs.join('|'),
  raw: (vs) => vs.join(','),
  csv: (vs) => vs.join(','),
};

function variableValue(v: TemplateVariable, selected: readonly string[] | 'All', format?: string): string {
  const formatted = format === undefined ? undefined : FORMATS[format];
  if (format !== undefined && formatted === undefined) {
    throw new Error(
      `template variable ${v.name}: format ${format} is not one this helper sends (${Object.keys(FORMATS).join(', ')})`,
    );
  }
  if (selected === 'All') {
    if (!v.includeAll) throw new Error(`template variable ${v.name} has no "All" option`);
    if (v.allValue === undefined) {
      throw new Error(`template variable ${v.name}: "All" without an allValue needs its option values`);
    }
    // Grafana sends a custom allValue as it is, whatever the format.
    return v.allValue;
  }
  if (selected.length === 0) throw new Error(`template variable ${v.name} has no value selected`);
  if (!v.multi && selected.length > 1) throw new Error(`template variable ${v.name} takes one value`);
  if (formatted) return formatted(selected);
  if (!v.multi && !v.includeAll) return plainEscape(selected[0]!);
  return selected.length === 1 ? regexEscape(selected[0]!) : `(${selected.map(regexEscape).join('|')})`;
}

const REFERENCE = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]/g;

/**
 * `text` with every variable reference replaced as Grafana replaces it. Built-ins need `intervals`
 * and `range`; a reference to a variable that is neither built in nor selected throws, naming it.
 */
export function interpolate(
  text: string,
  dashboard: Dashboard,
  selection: Selection,
  time?: { range: TimeRange; intervals: Intervals },
): string {
  return text.replace(REFERENCE, (whole, a?: string, b?: string, bf?: string, c?: string, cf?: string) => {
    const name = a ?? b ?? c ?? '';
    const builtIn = time && builtInValue(name, time.range, time.intervals);
    if (builtIn !== undefined) return builtIn;
    const variable = dashboard.templating.list.find((v) => v.name === name);
    const selected = selection[name];
    if (variable === undefined || selected === undefined) {
      throw new Error(`${whole} in ${JSON.stringify(text)}: no value for template variable ${name}`);
    }
    return variableValue(variable, selected, bf ?? cf);
  });
}

function builtInValue(name: string, range: TimeRange, i: Intervals): string | undefined {
  const rangeMs = range.toMs - range.fromMs;
  switch (name) {
    case '__interval':
      return duration(i.intervalS);
    case '__interval_ms':
      return String(Math.round(i.intervalS * 1000));
    case '__rate_interval':
      return duration(i.rateIntervalS);
    case '__range':
      return `${Math.round(rangeMs / 1000)}s`;
    case '__range_s':
      return String(Math.round(rangeMs / 1000));
    case '__range_ms':
      return String(rangeMs);
    default:
      return undefined;
  }
}

/** The query of a `query` template variable: `label_values(<series selector>, <label>)` or `label_values(<label>)`. */
export function labelValuesQuery(v: TemplateVariable): { match: string | undefined; label: string } {
  const text = typeof v.query === 'string' ? v.query : v.query?.query;
  const m = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$/.exec(text ?? '');
  if (!m) throw new Error(`template variable ${v.name}: not a label_values() query: ${JSON.stringify(text)}`);
  return { match: m[1], label: m[2]! };
}

// Settings that change the query Grafana sends (its step, its kind, whether it runs at all) and
// that this helper does not model: a panel or target using one is refused, not evaluated otherwise.
const PANEL_SETTINGS = ['interval', 'maxDataPoints', 'timeFrom', 'timeShift', 'hideTimeOverride'];
const TARGET_SETTINGS = ['interval', 'intervalFactor', 'step', 'instant', 'hide', 'format'];

/** The settings of a panel and its target that Grafana would send differently from what this helper does. */
export function unmodelledSettings(panel: DashboardPanel, target: DashboardTarget): string[] {
  const set = (o: Record<string, unknown>, names: string[], what: string) =>
    names.filter((n) => o[n] !== undefined && o[n] !== false && o[n] !== '').map((n) => `${what}.${n}`);
  const settings = [...set(panel, PANEL_SETTINGS, 'panel'), ...set(target, TARGET_SETTINGS, 'target')];
  // The time-series format is what this helper reads (a range query, "range": true, is not listed).
  return settings.filter((s) => !(s === 'target.format' && target.format === 'time_series'));
}

/** The dashboard's `query` variables, in the order Grafana resolves them (each may use the earlier ones). */
export const queryVariables = (d: Dashboard): TemplateVariable[] =>
  d.templating.list.filter((v) => v.type === 'query');

const NOT_METRICS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * Every metric name a PromQL expression reads: the identifiers left once strings, label matchers,
 * range windows and grouping lists are gone, that are neither a function call nor a keyword.
 */
export function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = bare.match(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g) ?? [];
  return [...new Set(names.filter((n) => !NOT_METRICS.has(n.toLowerCase())))];
}

/** A series name from Grafana's legendFormat: `{{label}}` replaced by the series' label value. */
export function legendOf(format: string | undefined, labels: Record<string, string>): string {
  if (format === undefined || format === '' || format === '__auto') return JSON.stringify(labels);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => labels[l] ?? '');
}
