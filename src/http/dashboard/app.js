// The live dashboard, plain JavaScript served as is: reads the node's feed (server-sent events over
// fetch, so the admin token travels in a header, not the URL) and draws every chart as SVG by hand.
// The feed carries every metric the node has; this file decides which chart shows what, so a new
// counter is listed under "All series" at once and gets a line where a chart asks for it.
'use strict';
(() => {
  const TOKEN_KEY = 'sluice.adminToken';
  const FEED_URL = '/_sluice/dashboard/events';

  // A token that came as ?token= moves to this tab's sessionStorage and leaves the address bar.
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    sessionStorage.setItem(TOKEN_KEY, params.get('token'));
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }

  const COLORS = ['#0969da', '#8250df', '#1a7f37', '#bc4c00', '#1b7c83', '#bf3989', '#6e7781', '#9a6700'];
  const STATE_COLOR = { closed: '#2da44e', halfOpen: '#d4a72c', open: '#cf222e' };
  const STATE_LABEL = { closed: 'closed', halfOpen: 'half-open', open: 'open' };

  /** Everything the page knows: sample times, one value array per series (aligned to `t`), the state. */
  const store = { sampleMs: 1000, points: 300, t: [], series: new Map(), state: null, ticks: 0, lastTickAt: 0 };

  // ---------------------------------------------------------------- the feed
  function applySnapshot(d) {
    store.sampleMs = d.sampleMs;
    store.points = d.points;
    store.t = d.window.t.slice();
    store.series = new Map(d.window.series.map((s) => [s.id, { info: s, values: s.values.slice() }]));
    store.state = d.state;
  }

  function applyTick(d) {
    for (const info of d.added) if (!store.series.has(info.id)) store.series.set(info.id, { info, values: store.t.map(() => null) });
    store.t.push(d.t);
    for (const s of store.series.values()) s.values.push(d.values[s.info.id] ?? null);
    const cut = store.t.length - store.points;
    if (cut > 0) {
      store.t.splice(0, cut);
      for (const [id, s] of store.series) {
        s.values.splice(0, cut);
        if (s.values.every((v) => v === null)) store.series.delete(id);
      }
    }
    store.state = d.state;
  }

  async function follow() {
    for (let attempt = 0; ; attempt++) {
      try {
        const token = sessionStorage.getItem(TOKEN_KEY);
        const res = await fetch(FEED_URL, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
        if (res.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          setStatus('down', 'admin token refused: reload to enter it');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`feed answered ${res.status}`);
        attempt = 0;
        await readEvents(res.body, onEvent);
        setStatus('down', 'feed ended: reconnecting');
      } catch (err) {
        setStatus('down', `reconnecting (${err.message})`);
      }
      await new Promise((r) => setTimeout(r, Math.min(10_000, 1_000 * 2 ** Math.min(attempt, 3))));
    }
  }

  /** Splits a text/event-stream body into events (RFC: fields per line, a blank line ends one). */
  async function readEvents(body, on) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let type = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) on(type, JSON.parse(data.join('\n')));
      }
    }
  }

  function onEvent(type, data) {
    if (type === 'snapshot') { applySnapshot(data); document.body.dataset.connected = '1'; }
    else if (type === 'tick') { applyTick(data); store.ticks++; }
    else if (type === 'busy') { setStatus('down', 'too many pages watch this node'); return; }
    else return;
    store.lastTickAt = Date.now();
    render();
    document.body.dataset.ticks = String(store.ticks);
    document.body.dataset.samples = String(store.t.length);
    document.dispatchEvent(new CustomEvent('sluice:rendered', { detail: { ticks: store.ticks } }));
  }

  function setStatus(kind, text) {
    const el = document.getElementById('status');
    el.className = `status ${kind}`;
    document.getElementById('status-text').textContent = text;
  }

  setInterval(() => {
    if (store.lastTickAt === 0) return;
    const late = Date.now() - store.lastTickAt > 3 * store.sampleMs + 1000;
    if (late && !document.getElementById('status').classList.contains('down')) setStatus('stale', 'no sample for a while');
  }, 1000);

  // ---------------------------------------------------------------- reading series
  /** The series named `name` with statistic `stat` whose labels match `where` (values or predicates). */
  function select(name, stat, where = {}) {
    const out = [];
    for (const s of store.series.values()) {
      if (s.info.name !== name || s.info.stat !== stat) continue;
      let ok = true;
      for (const [k, want] of Object.entries(where)) {
        const have = s.info.labels[k];
        if (typeof want === 'function' ? !want(have) : have !== want) { ok = false; break; }
      }
      if (ok) out.push(s);
    }
    return out;
  }

  /** Sum per sample; null where none of them had a value. */
  function sum(list) {
    return store.t.map((_, i) => {
      let total = null;
      for (const s of list) if (s.values[i] !== null && s.values[i] !== undefined) total = (total ?? 0) + s.values[i];
      return total;
    });
  }

  const scale = (values, k) => values.map((v) => (v === null ? null : v * k));
  const last = (values) => { for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]; return null; };

  /** Cache lookups of a target by result, whatever the cache feature names its counter. */
  function cacheSeries(target) {
    const hits = [];
    const all = [];
    for (const s of store.series.values()) {
      const { name, labels, stat } = s.info;
      if (stat !== 'rate' || labels.target !== target || !/^sluice_cache_.*(lookups|requests|results|status)/.test(name)) continue;
      const result = labels.result ?? labels.outcome ?? labels.status ?? labels.kind;
      if (result === undefined) continue;
      all.push(s);
      if (/^(hit|fresh|stale)/.test(result)) hits.push(s);
    }
    const hitRate = sum(hits);
    const total = sum(all);
    return { found: all.length > 0, hitRate, ratio: total.map((n, i) => (n === null || n === 0 || hitRate[i] === null ? null : (100 * hitRate[i]) / n)) };
  }

  // ---------------------------------------------------------------- drawing
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

  // ---------------------------------------------------------------- the page
  function render() {
    const st = store.state;
    if (!st) return;
    document.getElementById('identity').innerHTML = `node <b>${esc(st.node)}</b> · cluster <b>${esc(st.cluster)}</b>`;
    const [, end] = timeDomain();
    setStatus('live', `live · sample ${clock(end, true)} · every ${fmt(store.sampleMs / 1000)} s · last ${fmt((store.points * store.sampleMs) / 60000)} min kept`);
    document.getElementById('cluster').innerHTML = `<span class="label">Cluster nodes</span>`
      + st.nodes.map((n) => `<span class="chip node${n === st.singleton ? ' holder' : ''}${n === st.node ? ' self' : ''}">${esc(n)}${n === st.node ? ' <i>this node</i>' : ''}${n === st.singleton ? ' <i>★ singleton</i>' : ''}</span>`).join('')
      + (st.singleton === null ? '<span class="chip warn">no singleton holder</span>' : '');
    const main = document.getElementById('targets');
    measure();
    main.innerHTML = st.targets.length === 0
      ? '<p class="none">No targets. Register one with <code>PUT /_sluice/targets/&lt;name&gt;</code>.</p>'
      : st.targets.map(targetSection).join('');
    if (document.getElementById('all-series').open) renderSeriesTable();
  }

  function targetSection(target) {
    const name = target.name;
    const req = sum(select('sluice_requests_total', 'rate', { target: name }));
    const errors = sum(select('sluice_requests_total', 'rate', { target: name, status: '5xx' }));
    const calls = sum(select('sluice_upstream_calls_total', 'rate', { target: name }));
    const coalesced = sum(select('sluice_batch_upstream_calls_saved_total', 'rate', { target: name, mode: 'coalesce' }));
    const merged = sum(select('sluice_batch_upstream_calls_saved_total', 'rate', { target: name, mode: 'merge' }));
    const limited = sum(select('sluice_limit_decisions_total', 'rate', { target: name, outcome: 'limited' }));
    const cache = cacheSeries(name);
    const forwarded = sum([...store.series.values()].filter((s) => s.info.stat === 'rate' && s.info.labels.target === name && /^sluice_.*forward.*_total$/.test(s.info.name)));

    // A counter not yet created (nothing saved, limited or failed so far) reads 0 while requests flow.
    const zero = (values) => values.map((v, i) => (v === null && req[i] !== null ? 0 : v));
    for (const list of [errors, calls, coalesced, merged, limited]) list.splice(0, list.length, ...zero(list));
    const traffic = [
      { label: 'requests', color: COLORS[0], values: req },
      { label: 'upstream calls', color: COLORS[1], values: calls },
    ];
    if (target.mode === 'coalesce' || coalesced.some((v) => v)) traffic.push({ label: 'saved: coalesced', color: COLORS[2], values: coalesced });
    if (target.mode === 'merge' || merged.some((v) => v)) traffic.push({ label: 'saved: merged', color: COLORS[4], values: merged });
    if (cache.found) traffic.push({ label: 'saved: cached', color: COLORS[7], values: cache.hitRate });
    if (forwarded.some((v) => v !== null)) traffic.push({ label: 'forwarded to owner', color: COLORS[6], values: forwarded, dash: true });
    traffic.push({ label: 'errors (5xx)', color: '#cf222e', values: errors, dash: true });
    if (target.limits.length > 0) traffic.push({ label: 'limited (429)', color: COLORS[3], values: limited, dash: true });

    const ms = (metric, stat) => scale(sum(select(metric, stat, { target: name })), 1000);
    const latency = [
      { label: 'client p50', color: COLORS[0], values: ms('sluice_request_duration_seconds', 'p50') },
      { label: 'client p99', color: COLORS[0], values: ms('sluice_request_duration_seconds', 'p99'), dash: true },
      { label: 'upstream p50', color: COLORS[1], values: ms('sluice_upstream_duration_seconds', 'p50') },
      { label: 'upstream p99', color: COLORS[1], values: ms('sluice_upstream_duration_seconds', 'p99'), dash: true },
    ];

    const replicas = target.replicas.map((url, k) => {
      const states = store.t.map(() => null);
      for (const s of select('sluice_replica_breaker_state', 'value', { target: name, replica: url })) {
        s.values.forEach((v, i) => { if (v === 1) states[i] = s.info.labels.state; });
      }
      const one = (metric, stat) => sum(select(metric, stat, { target: name, replica: url }));
      return {
        url, color: COLORS[k % COLORS.length], states, current: last(states),
        inFlight: one('sluice_replica_in_flight', 'value'), queued: one('sluice_replica_queued', 'value'),
        capacity: last(one('sluice_replica_capacity', 'value')), queueCap: last(one('sluice_replica_queue_capacity', 'value')),
        calls: one('sluice_upstream_calls_total', 'rate'), errors: one('sluice_replica_errors_total', 'rate'),
      };
    }).map((r) => ({ ...r, errors: r.errors.map((v, i) => (v === null && r.calls[i] !== null ? 0 : v)) }));
    const load = replicas.flatMap((r) => [
      { label: `${shortUrl(r.url)} in flight`, color: r.color, values: r.inFlight },
      { label: `${shortUrl(r.url)} queued`, color: r.color, values: r.queued, dash: true },
    ]);

    const usage = target.limits.map((l, k) => {
      const total = sum(select('sluice_limit_cluster_total', 'value', { target: name, limit: l.name }));
      const cluster = total.some((v) => v !== null);
      // Without a cluster total (strict limits) this node's admissions are added up per window.
      const used = cluster ? total : perWindow(sum(select('sluice_limit_decisions_total', 'rate', { target: name, limit: l.name, outcome: 'admitted' })), l.windowMs);
      const per = typeof l.per === 'string' ? l.per : `per ${Object.keys(l.per)[0]}`;
      return {
        label: `${l.name} (${l.limit} ${l.dimension} / ${fmt(l.windowMs / 1000)} s, ${l.mode}, ${per}${cluster ? '' : ', this node'})`,
        color: COLORS[k % COLORS.length], values: scale(used, 100 / l.limit), now: `${fmt(last(used))} / ${fmt(l.limit)}`,
      };
    });

    const nowReq = last(req);
    const saved = [coalesced, merged, cache.hitRate].map(last).reduce((a, v) => (v === null ? a : (a ?? 0) + v), null);
    const summary = [
      `<span>${fmt(nowReq)} req/s</span>`, `<span>${fmt(last(calls))} upstream calls/s</span>`,
      `<span>${fmt(saved)} saved/s</span>`, `<span>p99 ${fmt(last(latency[1].values))} ms</span>`,
    ].join('');
    const limitsText = target.limits.length === 0 ? 'no limits' : target.limits.map((l) => `${esc(l.name)} ${l.limit}/${fmt(l.windowMs / 1000)} s`).join(', ');

    return `<section class="target" data-target="${esc(name)}">`
      + `<header><h2>${esc(name)}</h2><code>${esc(target.prefix)}</code><span class="badge">${esc(target.mode)}</span>`
      + `<span class="meta">${target.replicas.length} replica${target.replicas.length === 1 ? '' : 's'} · ${limitsText} · cache ${target.cache ? 'on' : 'off'}</span>`
      + `<span class="now">${summary}</span></header>`
      + '<div class="grid">'
      + lineChart({ id: 'traffic', title: 'Requests, upstream calls and calls saved', unit: 'per s', lines: traffic, minMax: 1 })
      + lineChart({ id: 'latency', title: 'Latency', unit: 'ms', lines: latency, minMax: 1, note: 'client: arrival to answer · upstream: to response head' })
      // Panels for what the target has: limits, a cache; the last of an odd count spans the row.
      + (usage.length > 0
        ? lineChart({ id: 'limits', title: 'Limit usage in the current window', unit: '% of limit', lines: usage, refs: [{ y: 100, label: 'limit' }], minMax: 100 })
        : '')
      + (cache.found || target.cache
        ? lineChart({ id: 'cache', title: 'Cache hit ratio', unit: '%', lines: [{ label: 'hits / lookups', color: COLORS[7], values: cache.ratio }], minMax: 100 })
        : '')
      + lineChart({ id: 'load', title: 'In flight and queued per replica', unit: 'calls', lines: load, minMax: 1, integer: true,
        wide: (usage.length > 0) === (cache.found || target.cache) })
      + breakerChart('breakers', replicas, replicaTable(replicas))
      + '</div></section>';
  }

  /** Running total of a per-second rate inside windows of `windowMs` aligned on the epoch. */
  function perWindow(rate, windowMs) {
    let acc = 0;
    let win = null;
    return rate.map((v, i) => {
      const w = Math.floor(store.t[i] / windowMs);
      if (w !== win) { acc = 0; win = w; }
      if (v === null) return null;
      acc += (v * (i === 0 ? store.sampleMs : store.t[i] - store.t[i - 1])) / 1000;
      return acc;
    });
  }

  function replicaTable(replicas) {
    const rows = replicas.map((r) => {
      const state = r.current ?? 'unknown';
      return `<tr data-replica="${esc(r.url)}"><td><svg class="swatch" width="10" height="10"><rect width="10" height="10" fill="${r.color}"/></svg>${esc(r.url)}</td>`
        + `<td><span class="state ${state}">${STATE_LABEL[state] ?? 'no sample'}</span></td>`
        + `<td class="num">${fmt(last(r.inFlight))} / ${fmt(r.capacity)}</td><td class="num">${fmt(last(r.queued))} / ${fmt(r.queueCap)}</td>`
        + `<td class="num">${fmt(last(r.calls))}</td><td class="num">${fmt(last(r.errors))}</td></tr>`;
    }).join('');
    return '<table class="replicas"><thead><tr><th>Replica</th><th>Breaker</th><th class="num">In flight / cap</th>'
      + '<th class="num">Queued / cap</th><th class="num">Calls/s</th><th class="num">Failures/s</th></tr></thead>'
      + `<tbody>${rows}</tbody></table>`;
  }

  function renderSeriesTable() {
    const rows = [...store.series.values()]
      .sort((a, b) => a.info.id.localeCompare(b.info.id))
      .map((s) => `<tr><td>${esc(s.info.name)}</td><td>${esc(Object.entries(s.info.labels).map(([k, v]) => `${k}=${v}`).join(' '))}</td>`
        + `<td>${esc(s.info.stat === 'rate' ? 'per s' : s.info.stat)}</td><td class="num">${fmt(last(s.values))}</td></tr>`).join('');
    document.getElementById('series-table').innerHTML = `<table><thead><tr><th>Metric</th><th>Labels</th><th>Shown as</th><th class="num">Latest</th></tr></thead><tbody>${rows}</tbody></table>`;
  }
  document.getElementById('all-series').addEventListener('toggle', () => { if (document.getElementById('all-series').open) renderSeriesTable(); });

  addEventListener('resize', () => render());
  follow();
})();
