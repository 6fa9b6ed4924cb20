// A one-page live view of the node: cluster members, singleton holder, targets and their replicas.
// It polls the admin JSON endpoints; with an admin token, paste it once (kept in sessionStorage).
export const DASHBOARD_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>sluice</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}h1{font-size:20px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}pre{background:#f6f6f6;padding:8px;max-height:20em;overflow:auto}</style></head>
<body><h1>sluice</h1><div id="cluster">loading…</div><h2>Targets</h2><div id="targets"></div><h2>Metrics</h2><pre id="metrics"></pre>
<script>
const tok = () => sessionStorage.getItem('sluiceToken') || '';
async function get(p, text) {
  const r = await fetch('/_sluice/' + p, { headers: tok() ? { authorization: 'Bearer ' + tok() } : {} });
  if (r.status === 401) { const t = prompt('Admin token'); if (t) sessionStorage.setItem('sluiceToken', t); throw new Error('401'); }
  return text ? r.text() : r.json();
}
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]);
async function tick() {
  try {
    const c = await get('cluster');
    document.getElementById('cluster').innerHTML = '<b>node</b> ' + esc(c.node) + ' · <b>cluster</b> ' + esc(c.cluster) +
      ' · <b>nodes</b> ' + esc(c.nodes.join(', ')) + ' · <b>singleton</b> ' + esc(c.singleton ?? '—');
    const ts = await get('targets');
    document.getElementById('targets').innerHTML = '<table><tr><th>name</th><th>prefix</th><th>mode</th><th>replicas</th></tr>' +
      ts.map((t) => '<tr><td>' + esc(t.name) + '</td><td>' + esc(t.prefix) + '</td><td>' + esc(t.batch.mode) + '</td><td><pre>' +
      esc(JSON.stringify(t.replicaState, null, 1)) + '</pre></td></tr>').join('') + '</table>';
    const m = await get('metrics', true);
    document.getElementById('metrics').textContent = m.split('\\n').filter((l) => l.startsWith('sluice_') && !l.includes('_bucket')).join('\\n');
  } catch (e) { /* next tick retries */ }
}
tick(); setInterval(tick, 1000);
</script></body></html>`;
