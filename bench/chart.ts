/**
 * The benchmark's chart: a hand-written SVG (no dependency) with one panel per measure against
 * the number of puppets N on a log scale.
 *
 * renderChart() draws any set of panels; sweepChart() draws the sweep's two: memory per puppet
 * and latency p50/p99 of both directions.
 */

export interface ChartSeries {
  name: string;
  color: string;
  /** SVG stroke-dasharray, e.g. "6 4"; solid when absent. */
  dash?: string;
  /** y = null: no figure for that N (the line breaks there). */
  points: Array<{ x: number; y: number | null }>;
}

export interface ChartPanel {
  title: string;
  yLabel: string;
  /** Unit shown in the markers' tooltips. */
  unit: string;
  series: ChartSeries[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  panelWidth?: number;
  panelHeight?: number;
}

/** What the sweep chart needs from one N's results (all per puppet or in ms; null = not measured). */
export interface SweepPoint {
  n: number;
  rssKbPerPuppet: number | null;
  rssLessFreeHeapKbPerPuppet: number | null;
  heapKbPerPuppet: number | null;
  m2iP50: number | null;
  m2iP99: number | null;
  i2mP50: number | null;
  i2mP99: number | null;
}

const MARGIN = { left: 70, right: 20, top: 44, bottom: 70 };
const LEGEND_ROW = 18;
const FONT = 'font-family="sans-serif"';

/** Escapes text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const px = (v: number): string => String(Math.round(v * 10) / 10);

/** Tick values for a linear axis that includes 0: a step of 1, 2 or 5 times a power of ten,
 *  about `target` intervals, the first tick at or below min (min <= 0) and the last at or above max. */
export function linearTicks(max: number, target = 5, min = 0): number[] {
  const lo = Number.isFinite(min) ? Math.min(0, min) : 0;
  const hi = Number.isFinite(max) ? Math.max(0, max) : 0;
  if (hi - lo <= 0) {
    return [0, 1];
  }
  const raw = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const step = (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last && ticks.length <= 100; i++) {
    ticks.push(Number((i * step).toPrecision(12)) || 0);
  }
  return ticks;
}

/** The log-scale x domain around the data: a quarter of a decade of padding either side, or a
 *  factor of 2 either side of a single value. */
export function logDomain(xs: readonly number[]): [number, number] {
  const pos = xs.filter((x) => x > 0 && Number.isFinite(x));
  if (pos.length === 0) {
    return [1, 10];
  }
  const lo = Math.min(...pos);
  const hi = Math.max(...pos);
  if (lo === hi) {
    return [lo / 2, hi * 2];
  }
  const pad = (Math.log10(hi) - Math.log10(lo)) * 0.08 + 0.05;
  return [10 ** (Math.log10(lo) - pad), 10 ** (Math.log10(hi) + pad)];
}

/** x ticks: every data value, then the powers of ten inside the domain, each kept only when it is
 *  at least `minGapPx` from the ticks kept before it. */
export function logTicks(xs: readonly number[], domain: [number, number], toPx: (x: number) => number,
  minGapPx = 34): number[] {
  const kept: number[] = [];
  const fits = (x: number): boolean => kept.every((k) => Math.abs(toPx(k) - toPx(x)) >= minGapPx);
  for (const x of [...new Set(xs)].filter((v) => v > 0).sort((a, b) => a - b)) {
    if (fits(x)) {
      kept.push(x);
    }
  }
  for (let e = Math.ceil(Math.log10(domain[0])); 10 ** e <= domain[1] && e < 20; e++) {
    if (fits(10 ** e)) {
      kept.push(10 ** e);
    }
  }
  return kept.sort((a, b) => a - b);
}

const label = (v: number): string => (Math.abs(v) >= 10_000 && v % 1000 === 0 ? `${v / 1000}k` : String(v));

function renderPanel(panel: ChartPanel, xLabel: string, x0: number, width: number, height: number,
  legendRows: number, xs: number[], domain: [number, number]): string[] {
  const out: string[] = [];
  const plotLeft = x0 + MARGIN.left;
  const plotRight = x0 + width - MARGIN.right;
  const plotTop = MARGIN.top;
  const plotBottom = height - MARGIN.bottom - legendRows * LEGEND_ROW;
  const [lo, hi] = [Math.log10(domain[0]), Math.log10(domain[1])];
  const toX = (x: number): number => plotLeft + ((Math.log10(x) - lo) / (hi - lo)) * (plotRight - plotLeft);
  const values = panel.series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null && Number.isFinite(y));
  const yTicks = linearTicks(Math.max(0, ...values), 5, Math.min(0, ...values));
  const yMin = yTicks[0] ?? 0;
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const toY = (y: number): number => plotBottom - ((y - yMin) / (yMax - yMin)) * (plotBottom - plotTop);

  out.push(`<g class="panel">`);
  out.push(`<text x="${px((plotLeft + plotRight) / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${escapeXml(panel.title)}</text>`);
  // Grid and y axis.
  for (const t of yTicks) {
    const y = px(toY(t));
    out.push(`<line x1="${px(plotLeft)}" y1="${y}" x2="${px(plotRight)}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<line x1="${px(plotLeft - 5)}" y1="${y}" x2="${px(plotLeft)}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${px(plotLeft - 8)}" y="${y}" dy="0.35em" text-anchor="end" font-size="11" ${FONT}>${escapeXml(label(t))}</text>`);
  }
  // x axis: ticks at the measured N and at powers of ten.
  for (const t of logTicks(xs, domain, toX)) {
    const x = px(toX(t));
    out.push(`<line x1="${x}" y1="${px(plotTop)}" x2="${x}" y2="${px(plotBottom)}" stroke="#f0f0f0"/>`);
    out.push(`<line x1="${x}" y1="${px(plotBottom)}" x2="${x}" y2="${px(plotBottom + 5)}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${px(plotBottom + 18)}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(label(t))}</text>`);
  }
  out.push(`<line x1="${px(plotLeft)}" y1="${px(plotBottom)}" x2="${px(plotRight)}" y2="${px(plotBottom)}" stroke="#333"/>`);
  out.push(`<line x1="${px(plotLeft)}" y1="${px(plotTop)}" x2="${px(plotLeft)}" y2="${px(plotBottom)}" stroke="#333"/>`);
  out.push(`<text x="${px((plotLeft + plotRight) / 2)}" y="${px(plotBottom + 38)}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(xLabel)}</text>`);
  const yMid = (plotTop + plotBottom) / 2;
  out.push(`<text x="${px(x0 + 16)}" y="${px(yMid)}" text-anchor="middle" font-size="12" transform="rotate(-90 ${px(x0 + 16)} ${px(yMid)})" ${FONT}>${escapeXml(panel.yLabel)}</text>`);
  if (values.length === 0) {
    out.push(`<text x="${px((plotLeft + plotRight) / 2)}" y="${px(yMid)}" text-anchor="middle" font-size="13" fill="#888" ${FONT}>not measured</text>`);
  }

  // The series: a line through consecutive measured points (broken where a figure is missing),
  // a marker with a tooltip at each.
  const drawn = panel.series.filter((s) => s.points.some((p) => p.y !== null && Number.isFinite(p.y)));
  for (const s of drawn) {
    const dash = s.dash ? ` stroke-dasharray="${escapeXml(s.dash)}"` : '';
    const pts = [...s.points].filter((p) => p.x > 0).sort((a, b) => a.x - b.x);
    let run: string[] = [];
    const flush = (): void => {
      if (run.length > 1) {
        out.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="2"${dash}/>`);
      }
      run = [];
    };
    for (const p of pts) {
      if (p.y === null || !Number.isFinite(p.y)) {
        flush();
        continue;
      }
      run.push(`${px(toX(p.x))},${px(toY(p.y))}`);
    }
    flush();
    for (const p of pts) {
      if (p.y !== null && Number.isFinite(p.y)) {
        out.push(`<circle cx="${px(toX(p.x))}" cy="${px(toY(p.y))}" r="3.5" fill="${escapeXml(s.color)}">` +
          `<title>${escapeXml(`${s.name}, N = ${p.x}: ${p.y} ${panel.unit}`)}</title></circle>`);
      }
    }
  }
  // Legend, below the x axis label, two entries a row.
  const colWidth = (plotRight - plotLeft) / 2;
  drawn.forEach((s, i) => {
    const lx = plotLeft + (i % 2) * colWidth;
    const ly = plotBottom + 56 + Math.floor(i / 2) * LEGEND_ROW;
    const dash = s.dash ? ` stroke-dasharray="${escapeXml(s.dash)}"` : '';
    out.push(`<line x1="${px(lx)}" y1="${px(ly)}" x2="${px(lx + 24)}" y2="${px(ly)}" stroke="${escapeXml(s.color)}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${px(lx + 30)}" y="${px(ly)}" dy="0.35em" font-size="11" ${FONT}>${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  return out;
}

/** An SVG document with the panels side by side, sharing one log-scale x axis domain. */
export function renderChart(panels: ChartPanel[], opts: ChartOptions): string {
  const width = opts.panelWidth ?? 480;
  const legendRows = Math.max(1, ...panels.map((p) => Math.ceil(p.series.length / 2)));
  const height = (opts.panelHeight ?? 380) + legendRows * LEGEND_ROW;
  const total = width * Math.max(1, panels.length);
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt.x)));
  const domain = logDomain(xs);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height + 30}" viewBox="0 0 ${total} ${height + 30}">`);
  out.push(`<title>${escapeXml(opts.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${total}" height="${height + 30}" fill="#fff"/>`);
  out.push(`<g transform="translate(0 30)">`);
  panels.forEach((p, i) => out.push(...renderPanel(p, opts.xLabel, i * width, width, height, legendRows, xs, domain)));
  out.push('</g>');
  out.push(`<text x="${px(total / 2)}" y="20" text-anchor="middle" font-size="13" fill="#444" ${FONT}>${escapeXml(opts.title)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The sweep's chart: memory per puppet and latency against N. */
export function sweepChart(points: readonly SweepPoint[], title: string): string {
  const series = (name: string, color: string, pick: (p: SweepPoint) => number | null, dash?: string): ChartSeries => ({
    name, color, ...(dash ? { dash } : {}), points: points.map((p) => ({ x: p.n, y: pick(p) })),
  });
  return renderChart([
    {
      title: 'Memory per puppet',
      yLabel: 'KB per puppet',
      unit: 'KB',
      series: [
        series('RSS less free heap, after GC', '#1f77b4', (p) => p.rssLessFreeHeapKbPerPuppet),
        series('live JS heap, after GC', '#2ca02c', (p) => p.heapKbPerPuppet),
        series('RSS as found', '#7f7f7f', (p) => p.rssKbPerPuppet, '3 3'),
      ],
    },
    {
      title: 'Message latency',
      yLabel: 'latency (ms)',
      unit: 'ms',
      series: [
        series('Matrix -> IRC p50', '#1f77b4', (p) => p.m2iP50),
        series('Matrix -> IRC p99', '#1f77b4', (p) => p.m2iP99, '6 4'),
        series('IRC -> Matrix p50', '#ff7f0e', (p) => p.i2mP50),
        series('IRC -> Matrix p99', '#ff7f0e', (p) => p.i2mP99, '6 4'),
      ],
    },
  ], { title, xLabel: 'puppets in the channel, N (log scale)' });
}
