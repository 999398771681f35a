// A small hand-written SVG line chart (no browser, no plotting library): one panel per model,
// x = throughput (requests/s), y = p99 latency (ms, log scale), one line per server variant,
// each point labelled with its concurrency.

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number; note: string }[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const W = 520;
const H = 360;
const M = { left: 64, right: 16, top: 36, bottom: 48 };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function ticks(max: number): number[] {
  const step = 10 ** Math.floor(Math.log10(max / 4));
  const nice = [1, 2, 5, 10].map((k) => k * step).find((s) => max / s <= 6) ?? step * 10;
  return Array.from({ length: Math.floor(max / nice) + 1 }, (_, i) => i * nice);
}

function panel(p: Panel, dx: number): string {
  const pts = p.series.flatMap((s) => s.points);
  const xMax = Math.max(...pts.map((q) => q.x)) * 1.1;
  const yLo = Math.log10(Math.max(0.01, Math.min(...pts.map((q) => q.y)) / 1.5));
  const yHi = Math.log10(Math.max(...pts.map((q) => q.y)) * 1.5);
  const px = (x: number) => dx + M.left + (x / xMax) * (W - M.left - M.right);
  const py = (y: number) => M.top + (1 - (Math.log10(y) - yLo) / (yHi - yLo)) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(`<text x="${dx + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  out.push(
    `<rect x="${dx + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`,
  );
  for (const t of ticks(xMax)) {
    out.push(
      `<text x="${px(t).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${t}</text>`,
    );
  }
  for (let e = Math.floor(yLo); e <= Math.ceil(yHi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < yLo || Math.log10(v) > yHi) continue;
      out.push(
        `<line x1="${dx + M.left}" x2="${dx + W - M.right}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#eee"/>`,
      );
      out.push(
        `<text x="${dx + M.left - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v}</text>`,
      );
    }
  }
  out.push(
    `<text x="${dx + W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">throughput (requests/s)</text>`,
  );
  out.push(
    `<text transform="translate(${dx + 16},${H / 2}) rotate(-90)" text-anchor="middle" font-size="12">p99 latency (ms, log)</text>`,
  );
  p.series.forEach((s, i) => {
    const path = s.points
      .map((q, j) => `${j ? 'L' : 'M'}${px(q.x).toFixed(1)},${py(q.y).toFixed(1)}`)
      .join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const q of s.points) {
      out.push(`<circle cx="${px(q.x).toFixed(1)}" cy="${py(q.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
      out.push(
        `<text x="${(px(q.x) + 4).toFixed(1)}" y="${(py(q.y) - 4).toFixed(1)}" font-size="9" fill="${s.color}">${esc(q.note)}</text>`,
      );
    }
    const ly = M.top + 14 + i * 14;
    out.push(`<rect x="${dx + M.left + 8}" y="${ly - 8}" width="10" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${dx + M.left + 22}" y="${ly}" font-size="11">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

export function chart(panels: Panel[]): string {
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif">`,
    `<rect width="${width}" height="${H}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * W)),
    '</svg>',
    '',
  ].join('\n');
}
