/**
 * A small, dependency-free SVG line chart: enough to plot leakage per round and leakage and
 * accuracy against noise, readable in any browser. Numbers only; labels are escaped.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Plot against the right-hand axis. */
  readonly right?: boolean;
  readonly dashed?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly y2Label?: string;
  readonly series: readonly Series[];
  /** Horizontal reference lines on the left axis (e.g. a threshold). */
  readonly hLines?: readonly { readonly y: number; readonly label: string }[];
  /** Ticks of the x axis with their labels (`\n` breaks a line); default: 6 numeric ticks. */
  readonly xTicks?: readonly { readonly value: number; readonly label: string }[];
  readonly width?: number;
  readonly height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function range(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function ticks([lo, hi]: [number, number], n = 5): number[] {
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 420;
  const m = { l: 70, r: o.y2Label === undefined ? 30 : 70, t: 40, b: 104 };
  const left = o.series.filter((s) => !s.right);
  const right = o.series.filter((s) => s.right);
  const xr = range(o.series.flatMap((s) => s.points.map((p) => p[0])));
  const yr = range([
    ...left.flatMap((s) => s.points.map((p) => p[1])),
    ...(o.hLines ?? []).map((h) => h.y),
  ]);
  const y2r = range(right.flatMap((s) => s.points.map((p) => p[1])));
  const sx = (x: number) => m.l + ((x - xr[0]) / (xr[1] - xr[0])) * (W - m.l - m.r);
  const sy = (y: number, r: [number, number]) =>
    H - m.b - ((y - r[0]) / (r[1] - r[0])) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      'font-family="sans-serif" font-size="12">',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  const xTicks = o.xTicks ?? ticks(xr).map((t) => ({ value: t, label: fmt(t) }));
  const xLines = Math.max(1, ...xTicks.map((t) => t.label.split('\n').length));
  for (const t of xTicks) {
    const x = sx(t.value).toFixed(1);
    const lines = t.label
      .split('\n')
      .map((l, k) => `<tspan x="${x}" dy="${k === 0 ? 0 : 14}">${esc(l)}</tspan>`);
    out.push(`<text x="${x}" y="${H - m.b + 16}" text-anchor="middle">${lines.join('')}</text>`);
  }
  for (const t of ticks(yr)) {
    out.push(
      `<line x1="${m.l}" y1="${sy(t, yr)}" x2="${W - m.r}" y2="${sy(t, yr)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${sy(t, yr) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  if (o.y2Label !== undefined) {
    out.push(`<line x1="${W - m.r}" y1="${m.t}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
    for (const t of ticks(y2r)) {
      out.push(`<text x="${W - m.r + 6}" y="${sy(t, y2r) + 4}">${fmt(t)}</text>`);
    }
    out.push(
      `<text transform="translate(${W - 18},${(H - m.b + m.t) / 2}) rotate(90)" ` +
        `text-anchor="middle">${esc(o.y2Label)}</text>`,
    );
  }
  out.push(
    `<text x="${(W - m.r + m.l) / 2}" y="${H - m.b + 22 + 14 * xLines}" ` +
      `text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18,${(H - m.b + m.t) / 2}) rotate(-90)" ` +
      `text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const h of o.hLines ?? []) {
    const y = sy(h.y, yr);
    out.push(
      `<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" ` +
        'stroke="#888" stroke-dasharray="2,3"/>',
      `<text x="${W - m.r - 4}" y="${y - 4}" text-anchor="end" fill="#555">${esc(h.label)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const r = s.right ? y2r : yr;
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    const d = pts.map(
      (p, k) => `${k === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1], r).toFixed(1)}`,
    );
    const dash = s.dashed ? ' stroke-dasharray="6,4"' : '';
    out.push(`<path d="${d.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    for (const p of pts) {
      out.push(
        `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1], r).toFixed(1)}" ` +
          `r="3.5" fill="${colour}"/>`,
      );
    }
    const lx = m.l + (i % 3) * ((W - m.l - m.r) / 3);
    const ly = H - 30 + Math.floor(i / 3) * 16;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" ` +
        `stroke="${colour}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 28}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
