// The live dashboard, plain JavaScript served as is: reads the node's feed (server-sent events over
// fetch, so the admin token travels in a header, not the URL) into the series store and lays out
// each target's charts (charts.js draws them). The feed carries every metric the node has; this file
// decides which chart shows what, so a new counter is listed under "All series" at once and gets a
// line where a chart asks for it.
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

  const store = makeSeriesStore();
  const { select, sum, scale, last } = store;
  const { lineChart, breakerChart, measure, timeDomain, esc, fmt, clock, shortUrl, STATE_LABEL } = makeCharts(store);

  // ---------------------------------------------------------------- the feed
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
    if (type === 'snapshot') { store.applySnapshot(data); document.body.dataset.connected = '1'; }
    else if (type === 'tick') { store.applyTick(data); store.ticks++; }
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

  /** Cache answers of a target: fresh hits and stale answers served, against all lookups. */
  function cacheSeries(target) {
    const hitRate = sum([...select('sluice_cache_hits_total', 'rate', { target }), ...select('sluice_cache_stale_served_total', 'rate', { target })]);
    const misses = select('sluice_cache_misses_total', 'rate', { target });
    const missRate = sum(misses);
    const found = misses.length > 0 || hitRate.some((v) => v !== null);
    const ratio = hitRate.map((h, i) => {
      const all = (h ?? 0) + (missRate[i] ?? 0);
      return h === null && missRate[i] === null ? null : all === 0 ? null : (100 * (h ?? 0)) / all;
    });
    return { found, hitRate, ratio };
  }

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
    const joined = sum(select('sluice_batch_joins_in_flight_total', 'rate', { target: name }));
    const fleetSaved = sum(select('sluice_fleet_calls_saved_total', 'rate', { target: name }));
    const forwarded = sum(select('sluice_fleet_forwards_sent_total', 'rate', { target: name }));

    // A counter not yet created (nothing saved, limited or failed so far) reads 0 while requests flow.
    const zero = (values) => values.map((v, i) => (v === null && req[i] !== null ? 0 : v));
    for (const list of [errors, calls, coalesced, merged, limited, joined, forwarded, cache.hitRate]) list.splice(0, list.length, ...zero(list));
    const traffic = [
      { label: 'requests', color: COLORS[0], values: req },
      { label: 'upstream calls', color: COLORS[1], values: calls },
    ];
    if (target.mode === 'coalesce' || coalesced.some((v) => v)) traffic.push({ label: 'saved: coalesced', color: COLORS[2], values: coalesced });
    if (select('sluice_batch_joins_in_flight_total', 'rate', { target: name }).length > 0) traffic.push({ label: 'of which joined in flight', color: COLORS[2], values: joined, dash: true });
    if (target.mode === 'merge' || merged.some((v) => v)) traffic.push({ label: 'saved: merged', color: COLORS[4], values: merged });
    if (cache.found) traffic.push({ label: 'saved: cached', color: COLORS[7], values: cache.hitRate });
    if (fleetSaved.some((v) => v !== null)) traffic.push({ label: 'saved: fleet (as owner)', color: COLORS[5], values: fleetSaved });
    if (select('sluice_fleet_forwards_sent_total', 'rate', { target: name }).length > 0) traffic.push({ label: 'forwarded to owner', color: COLORS[6], values: forwarded, dash: true });
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
    const saved = [coalesced, merged, cache.hitRate, fleetSaved].map(last).reduce((a, v) => (v === null ? a : (a ?? 0) + v), null);
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
        ? lineChart({ id: 'cache', title: 'Cache hit ratio', unit: '%', lines: [{ label: 'answered from the cache (fresh or stale) / lookups', color: COLORS[7], values: cache.ratio }], minMax: 100 })
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
