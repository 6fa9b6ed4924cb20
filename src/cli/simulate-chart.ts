// Charts of a simulation: calls at the upstream per window (by when they landed there) against the limit, as text for the terminal and as an
// SVG file (bars stacked by node, the limit as a dashed line).
import type { SimOutcome } from './simulate-cluster.ts';

const BAR_WIDTH = 50;

/** One row per window: a bar of upstream calls on a scale where `|` marks the limit. */
export function asciiChart(o: SimOutcome): string {
  const { limit } = o.spec;
  const top = Math.max(limit, ...o.windows.map((w) => w.upstream));
  const scale = (n: number) => Math.round((n / top) * BAR_WIDTH);
  const at = scale(limit);
  const lines = [`calls at the upstream per window (█), limit ${limit} (|)${o.windows.some((w) => w.faulted) ? ', * = failover window' : ''}`];
  for (const w of o.windows) {
    const bar = '█'.repeat(scale(w.upstream)).padEnd(BAR_WIDTH + 1, ' ').split('');
    if (bar[at] === ' ') bar[at] = '|';
    const label = `${(w.startMs / 1000).toFixed(1).padStart(6)}s`;
    lines.push(`${label} ${bar.join('')} ${w.upstream}/${w.demanded}${w.faulted ? ' *' : ''}`);
  }
  return lines.join('\n');
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Upstream calls per window stacked by node; the limit dashed. */
export function svgChart(o: SimOutcome): string {
  const W = 720;
  const H = 360;
  const pad = { l: 50, r: 140, t: 30, b: 40 };
  const { limit } = o.spec;
  const top = Math.max(limit, ...o.windows.map((w) => w.upstream)) * 1.1 || 1;
  const plotW = W - pad.l - pad.r;
  const plotH = H - pad.t - pad.b;
  const bw = plotW / Math.max(1, o.windows.length);
  const y = (v: number) => pad.t + plotH - (v / top) * plotH;
  const parts: string[] = [];
  o.windows.forEach((w, i) => {
    let base = 0;
    o.nodes.forEach((_, k) => {
      const h = w.upstreamByNode[k] ?? 0;
      if (h <= 0) return;
      parts.push(`<rect x="${(pad.l + i * bw + 1).toFixed(1)}" y="${y(base + h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(y(base) - y(base + h)).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"/>`);
      base += h;
    });
    if (w.faulted) parts.push(`<text x="${(pad.l + (i + 0.5) * bw).toFixed(1)}" y="${(y(w.upstream) - 4).toFixed(1)}" font-size="10" text-anchor="middle">failover</text>`);
  });
  const legend = o.nodes.slice(0, 12).map((n, k) =>
    `<rect x="${W - pad.r + 15}" y="${pad.t + k * 16}" width="10" height="10" fill="${COLORS[k % COLORS.length]}"/>` +
    `<text x="${W - pad.r + 30}" y="${pad.t + k * 16 + 9}" font-size="11">${n.id}: ${n.granted}/${n.requests}</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad.l}" y="18" font-size="13">sluice simulate: ${o.spec.nodes} nodes, ${o.spec.mode}, limit ${limit} per ${o.spec.windowMs} ms — calls at the upstream per window</text>`,
    `<line x1="${pad.l}" y1="${pad.t + plotH}" x2="${pad.l + plotW}" y2="${pad.t + plotH}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${pad.t + plotH}" stroke="black"/>`,
    `<text x="${pad.l - 6}" y="${y(0) + 4}" font-size="10" text-anchor="end">0</text>`,
    `<text x="${pad.l - 6}" y="${y(limit) + 4}" font-size="10" text-anchor="end">${limit}</text>`,
    ...parts,
    `<line x1="${pad.l}" y1="${y(limit).toFixed(1)}" x2="${pad.l + plotW}" y2="${y(limit).toFixed(1)}" stroke="#d62728" stroke-dasharray="6 4" stroke-width="2"/>`,
    `<text x="${pad.l + plotW / 2}" y="${H - 10}" font-size="11" text-anchor="middle">window (${o.spec.windowMs} ms each, ${o.windows.length} windows)</text>`,
    ...legend,
    '</svg>',
  ].join('\n');
}
