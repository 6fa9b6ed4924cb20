// Charts drawn as SVG text by hand: time-series lines with units, a legend and reference lines, and
// breaker-state bands. Each chart is drawn at the width it is shown at, so 11 px text stays 11 px.
'use strict';
function makeCharts(store) {
  const { last } = store;
  const STATE_COLOR = { closed: '#2da44e', halfOpen: '#d4a72c', open: '#cf222e' };
  const STATE_LABEL = { closed: 'closed', halfOpen: 'half-open', open: 'open' };
  // Charts are drawn at the width they are shown at, so 11 px text stays 11 px on any screen.
  let W = 640;
  const H = 190;
  const layout = { half: 640, full: 1300 };
  function measure() {
    const inner = Math.max(320, document.getElementById('targets').clientWidth - 2 * 14 - 2 - 2 * 20);
    const two = inner >= 1000;
    document.body.classList.toggle('one-column', !two);
    layout.full = Math.floor(inner);
    layout.half = two ? Math.floor((inner - 18) / 2) : layout.full;
  }
  const M = { left: 52, right: 12, top: 16, bottom: 24 };

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const numberFormat = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });
  const fmt = (v) => (v === null || v === undefined ? '–' : numberFormat.format(v));

  function timeDomain() {
    const end = store.t.length > 0 ? store.t[store.t.length - 1] : Date.now();
    return [end - (store.points - 1) * store.sampleMs, end];
  }

  function niceStep(raw) {
    const p = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function yTicks(max, integer) {
    if (!(max > 0)) max = 1;
    const step = integer ? Math.max(1, Math.ceil(niceStep(max / 4))) : niceStep(max / 4);
    const top = Math.ceil(max / step - 1e-9) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(Number(v.toPrecision(6)));
    return ticks;
  }

  function timeTicks(from, to) {
    const span = to - from;
    const steps = [5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5];
    const step = steps.find((s) => span / s <= 6) ?? steps[steps.length - 1];
    const out = [];
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
    return { ticks: out, seconds: step < 6e4 };
  }

  const clock = (t, seconds) => new Date(t).toLocaleTimeString('en-GB', seconds ? { hour12: false } : { hour: '2-digit', minute: '2-digit', hour12: false });

  /** x axis, vertical grid and time labels under a plot spanning [x0, x1]. */
  function timeAxis(x0, x1, yTop, yBottom) {
    const [from, to] = timeDomain();
    const { ticks, seconds } = timeTicks(from, to);
    const x = (t) => x0 + ((t - from) / (to - from)) * (x1 - x0);
    let s = '';
    for (const t of ticks) {
      const px = x(t).toFixed(1);
      s += `<line class="grid" x1="${px}" x2="${px}" y1="${yTop}" y2="${yBottom}"/>`;
      s += `<text class="tick" x="${px}" y="${yBottom + 15}" text-anchor="middle">${clock(t, seconds)}</text>`;
    }
    s += `<line class="axis" x1="${x0}" x2="${x1}" y1="${yBottom}" y2="${yBottom}"/>`;
    return { svg: s, x };
  }

  /**
   * A line chart: `lines` of {label, color, dash, values, now}, y from 0 in `unit`. `refs` are
   * horizontal reference lines ({y, label}) such as a limit.
   */
  function lineChart({ id, title, unit, lines, refs = [], minMax = 0, note = '', integer = false, wide = false }) {
    W = wide ? layout.full : layout.half;
    const x0 = M.left;
    const x1 = W - M.right;
    const yTop = M.top;
    const yBottom = H - M.bottom;
    let max = minMax;
    for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
    for (const r of refs) max = Math.max(max, r.y * 1.1);
    const ticks = yTicks(max, integer);
    const top = ticks[ticks.length - 1];
    const y = (v) => yBottom - (v / top) * (yBottom - yTop);
    let svg = '';
    for (const v of ticks) {
      const py = y(v).toFixed(1);
      svg += `<line class="grid" x1="${x0}" x2="${x1}" y1="${py}" y2="${py}"/>`;
      svg += `<text class="tick" x="${x0 - 6}" y="${(+py + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`;
    }
    svg += `<text class="unit" x="4" y="${yTop - 5}">${esc(unit)}</text>`;
    const axis = timeAxis(x0, x1, yTop, yBottom);
    svg += axis.svg;
    svg += `<line class="axis" x1="${x0}" x2="${x0}" y1="${yTop}" y2="${yBottom}"/>`;
    for (const r of refs) {
      const py = y(r.y).toFixed(1);
      svg += `<line class="ref" x1="${x0}" x2="${x1}" y1="${py}" y2="${py}"/>`;
      svg += `<text class="ref-label" x="${x1 - 4}" y="${(+py - 4).toFixed(1)}" text-anchor="end">${esc(r.label)}</text>`;
    }
    let points = 0;
    for (const l of lines) {
      let d = '';
      let run = 0;
      const dots = [];
      l.values.forEach((v, i) => {
        if (v === null) { if (run === 1) dots.push(d.slice(d.lastIndexOf('M') + 1)); run = 0; return; }
        const px = axis.x(store.t[i]).toFixed(1);
        const py = y(v).toFixed(1);
        d += `${run === 0 ? 'M' : 'L'}${px} ${py}`;
        run++;
      });
      if (run === 1) dots.push(d.slice(d.lastIndexOf('M') + 1));
      const dash = l.dash ? ' stroke-dasharray="5 3"' : '';
      if (d) svg += `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.8" stroke-linejoin="round"${dash}/>`;
      for (const p of dots) { const [px, py] = p.split(' '); svg += `<circle cx="${px}" cy="${py}" r="2" fill="${l.color}"/>`; }
    }
    for (let i = 0; i < store.t.length; i++) if (lines.some((l) => l.values[i] !== null)) points++;
    const legend = lines.map((l) => `<span class="key"><svg width="18" height="10"><line x1="1" x2="17" y1="5" y2="5" stroke="${l.color}" stroke-width="2.5"${l.dash ? ' stroke-dasharray="4 2"' : ''}/></svg>${esc(l.label)} <b>${l.now ?? fmt(last(l.values))}</b></span>`).join('');
    return `<figure class="chart${wide ? ' wide' : ''}" data-chart="${esc(id)}"><figcaption>${esc(title)}${note ? ` <span class="note">${esc(note)}</span>` : ''}</figcaption>`
      + `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" data-points="${points}">${svg}</svg>`
      + `<div class="legend">${legend}</div></figure>`;
  }

  /** Breaker state of each replica over time: one coloured band per replica. */
  function breakerChart(id, replicas, below = '') {
    W = layout.full;
    const rowH = 22;
    const gap = 6;
    const left = 132;
    const x1 = W - M.right;
    const yTop = 6;
    const yBottom = yTop + Math.max(1, replicas.length) * (rowH + gap);
    const height = yBottom + M.bottom;
    const axis = timeAxis(left, x1, yTop, yBottom);
    let svg = axis.svg; // under the bands
    let points = 0;
    replicas.forEach((r, k) => {
      const y0 = yTop + k * (rowH + gap) + gap / 2;
      svg += `<g class="band" data-replica="${esc(r.url)}" data-state="${r.current ?? 'unknown'}">`;
      svg += `<text class="tick" x="${left - 8}" y="${y0 + rowH / 2 + 4}" text-anchor="end">${esc(shortUrl(r.url))}</text>`;
      svg += `<rect x="${left}" y="${y0}" width="${x1 - left}" height="${rowH}" fill="#eaeef2"/>`;
      let runState = null;
      let runFrom = 0;
      const flush = (to) => {
        if (runState === null) return;
        const xa = Math.max(left, axis.x(runFrom));
        const xb = Math.max(xa + 1.5, axis.x(to));
        svg += `<rect x="${xa.toFixed(1)}" y="${y0}" width="${(xb - xa).toFixed(1)}" height="${rowH}" fill="${STATE_COLOR[runState]}" data-state="${runState}"/>`;
      };
      store.t.forEach((t, i) => {
        const state = r.states[i];
        if (state) points = Math.max(points, i + 1);
        const from = i === 0 ? t - store.sampleMs : store.t[i - 1];
        if (state !== runState) { flush(from); runState = state; runFrom = from; }
      });
      flush(store.t[store.t.length - 1] ?? 0);
      svg += '</g>';
    });
    const legend = Object.entries(STATE_COLOR).map(([s, c]) => `<span class="key"><svg width="14" height="10"><rect width="14" height="10" fill="${c}"/></svg>${STATE_LABEL[s]}</span>`).join('')
      + '<span class="key"><svg width="14" height="10"><rect width="14" height="10" fill="#eaeef2"/></svg>no sample</span>';
    return `<figure class="chart wide" data-chart="${esc(id)}"><figcaption>Breaker state per replica</figcaption>`
      + `<svg viewBox="0 0 ${W} ${height}" role="img" aria-label="Breaker state per replica" data-points="${points}">${svg}</svg>`
      + `<div class="legend">${legend}</div>${below}</figure>`;
  }

  const shortUrl = (u) => u.replace(/^https?:\/\//, '');

  return { lineChart, breakerChart, measure, layout, timeDomain, esc, fmt, clock, shortUrl, STATE_LABEL };
}
