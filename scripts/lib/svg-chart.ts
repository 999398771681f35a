// A small hand-written SVG line chart (no browser, no plotting library), the one renderer of the
// project's pictures: the benchmark plots (bench/server.bench.ts: x = throughput, y = p99 latency
// on a log scale, each point labelled with its concurrency) and the demo's picture of the two
// pools over time (scripts/demo-picture.ts: one panel per dashboard panel, one line per pool).
// Panels sit in a grid, each with its own axes; values that are not finite (a quantile over no
// requests is NaN) or not positive on a log axis leave a gap in their line instead of a point.

export interface Point {
  x: number;
  y: number;
  /** A small label beside the point (the bench's concurrency). */
  note?: string;
}

export interface Series {
  label: string;
  color: string;
  /** Drawn dashed, to tell a second line of one colour apart (a pool's p50 beside its p95). */
  dashed?: boolean;
  /** Draw a dot on each point (where a point stands for a measurement, as in the bench). */
  dots?: boolean;
  points: Point[];
}

export interface Axis {
  label: string;
  log?: boolean;
}

export interface Panel {
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
}

export interface ChartOptions {
  /** Panels per row; all in one row by default. */
  columns?: number;
  /** A line above the panels. */
  title?: string;
}

const W = 520;
const H = 360;
const M = { left: 64, right: 16, top: 36, bottom: 48 };
const TITLE_H = 28;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const fmt = (v: number) => Number(v.toPrecision(6)).toString();

/** Round tick values from `lo` up to `hi`, at most about six of them. */
export function ticks(lo: number, hi: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((k) => k * step).find((s) => span / s <= 6) ?? step * 10;
  const first = Math.ceil(lo / nice);
  return Array.from({ length: Math.floor(hi / nice) - first + 1 }, (_, i) =>
    Number(((first + i) * nice).toPrecision(12)),
  );
}

/** The points a line can draw: finite, and positive on a log axis. */
const drawable = (y: Axis) => (q: Point) =>
  Number.isFinite(q.x) && Number.isFinite(q.y) && (!y.log || q.y > 0);

function panel(p: Panel, dx: number, dy: number): string {
  const ok = drawable(p.y);
  const pts = p.series.flatMap((s) => s.points.filter(ok));
  const out: string[] = [];
  out.push(
    `<text x="${dx + W / 2}" y="${dy + 20}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
  );
  out.push(
    `<rect x="${dx + M.left}" y="${dy + M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`,
  );
  out.push(
    `<text x="${dx + W / 2}" y="${dy + H - 12}" text-anchor="middle" font-size="12">${esc(p.x.label)}</text>`,
  );
  out.push(
    `<text transform="translate(${dx + 16},${dy + H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.y.label)}</text>`,
  );
  if (pts.length === 0) {
    out.push(
      `<text x="${dx + W / 2}" y="${dy + H / 2}" text-anchor="middle" font-size="14" fill="#999">no data</text>`,
    );
    return out.join('\n');
  }
  const xs = pts.map((q) => q.x);
  const ys = pts.map((q) => q.y);
  const xLo = Math.min(0, ...xs);
  const xHi = Math.max(...xs) > xLo ? Math.max(...xs) * (xLo === 0 ? 1.1 : 1) : xLo + 1;
  let yLo: number;
  let yHi: number;
  if (p.y.log) {
    // Every y here is positive (drawable): the axis reaches down to the smallest, however small.
    yLo = Math.log10(Math.min(...ys) / 1.5);
    yHi = Math.log10(Math.max(...ys) * 1.5);
  } else {
    // Headroom above the highest value for the legend's rows, so the lines stay clear of it.
    const plotH = H - M.top - M.bottom;
    const free = 1 - Math.min(0.5, (p.series.length * 14 + 8) / plotH);
    yLo = Math.min(0, ...ys);
    yHi = yLo + (Math.max(...ys) > yLo ? Math.max(...ys) - yLo : 1) / free;
  }
  const px = (x: number) => dx + M.left + ((x - xLo) / (xHi - xLo)) * (W - M.left - M.right);
  const py = (y: number) =>
    dy + M.top + (1 - ((p.y.log ? Math.log10(y) : y) - yLo) / (yHi - yLo)) * (H - M.top - M.bottom);

  for (const t of ticks(xLo, xHi)) {
    out.push(
      `<text x="${px(t).toFixed(1)}" y="${dy + H - M.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
    );
  }
  const yTicks: number[] = [];
  if (p.y.log) {
    for (let e = Math.floor(yLo); e <= Math.ceil(yHi); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (Math.log10(v) >= yLo && Math.log10(v) <= yHi) yTicks.push(Number(v.toPrecision(6)));
      }
    }
  } else {
    yTicks.push(...ticks(yLo, yHi));
  }
  for (const v of yTicks) {
    out.push(
      `<line x1="${dx + M.left}" x2="${dx + W - M.right}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#eee"/>`,
    );
    out.push(
      `<text x="${dx + M.left - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmt(v)}</text>`,
    );
  }
  // The legend sits in the plot's top-left corner, drawn last so no line hides it.
  const legend: string[] = [];
  p.series.forEach((s, i) => {
    // A gap (a point that cannot be drawn) starts a new stroke.
    let pen = 'M';
    const path: string[] = [];
    for (const q of s.points) {
      if (!ok(q)) {
        pen = 'M';
        continue;
      }
      path.push(`${pen}${px(q.x).toFixed(1)},${py(q.y).toFixed(1)}`);
      pen = 'L';
    }
    const dash = s.dashed ? ' stroke-dasharray="6 3"' : '';
    if (path.length > 0) {
      out.push(`<path d="${path.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    }
    for (const q of s.points.filter(ok)) {
      // A lone point of a line would not show without its dot.
      if (s.dots || path.length === 1) {
        out.push(`<circle cx="${px(q.x).toFixed(1)}" cy="${py(q.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
      }
      if (q.note !== undefined) {
        out.push(
          `<text x="${(px(q.x) + 4).toFixed(1)}" y="${(py(q.y) - 4).toFixed(1)}" font-size="9" fill="${s.color}">${esc(q.note)}</text>`,
        );
      }
    }
    const ly = dy + M.top + 14 + i * 14;
    legend.push(
      `<line x1="${dx + M.left + 8}" x2="${dx + M.left + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"${dash}/>`,
    );
    legend.push(`<text x="${dx + M.left + 24}" y="${ly}" font-size="11">${esc(s.label)}</text>`);
  });
  return [...out, ...legend].join('\n');
}

export function chart(panels: Panel[], options: ChartOptions = {}): string {
  const columns = Math.max(1, Math.min(options.columns ?? panels.length, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const top = options.title === undefined ? 0 : TITLE_H;
  const width = W * columns;
  const height = top + H * rows;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...(options.title === undefined
      ? []
      : [`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${esc(options.title)}</text>`]),
    ...panels.map((p, i) => panel(p, (i % columns) * W, top + Math.floor(i / columns) * H)),
    '</svg>',
    '',
  ].join('\n');
}
