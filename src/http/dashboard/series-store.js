// The page's copy of the node's samples: times and one value array per series, aligned, trimmed to
// the node's window; and the few ways the page reads them (select by name and labels, sum, latest).
'use strict';
function makeSeriesStore() {
  /** Everything the page knows: sample times, one value array per series (aligned to `t`), the state. */
  const store = { sampleMs: 1000, points: 300, t: [], series: new Map(), state: null, ticks: 0, lastTickAt: 0 };

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

  return Object.assign(store, { applySnapshot, applyTick, select, sum, scale, last });
}
