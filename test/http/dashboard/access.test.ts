// Who may see what under /_sluice/ (issue #15): orchestrators' probes need no token, everything else
// does; the dashboard page and its feed also take it as ?token= (a browser link cannot send a header).
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../../src/node.ts';
import { startNode } from '../../support/nodes.ts';

const access = suite('admin access: probes open, dashboard and the rest behind the token');
let node: SluiceNode;
const TOKEN = 'pr0be-s3cret';

access.before(async () => {
  node = await startNode({ node: { id: 'acc' }, cluster: { name: 'c1' }, admin: { token: TOKEN }, targets: [] });
});
access.after(async () => { await node.stop(); });

const get = async (path: string, headers: Record<string, string> = {}) => {
  const r = await request(`${node.url}${path}`, { headers });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers, body };
};

access('healthz and readyz answer without a token, and with a wrong one', async () => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
    const h = await get('/_sluice/healthz', headers);
    assert.is(h.status, 200);
    assert.equal(JSON.parse(h.body), { status: 'ok' });
    const r = await get('/_sluice/readyz', headers);
    assert.is(r.status, 200);
    assert.equal(JSON.parse(r.body), { status: 'ready' });
  }
});

access('every other admin route refuses a request without the token, whatever it asks for', async () => {
  for (const path of ['/_sluice/metrics', '/_sluice/cluster', '/_sluice/targets', '/_sluice/', '/_sluice', '/_sluice/dashboard', '/_sluice/dashboard/events', '/_sluice/nope']) {
    const r = await get(path);
    assert.is(r.status, 401, path);
    assert.is(r.headers['www-authenticate'], 'Bearer realm="sluice"', path);
    assert.not.match(r.body, /sluice_|"nodes"/, `${path} leaks nothing`);
  }
  const put = await request(`${node.url}/_sluice/targets/x`, { method: 'PUT', body: '{"prefix":"/x","replicas":["http://127.0.0.1:1"]}' });
  assert.is(put.statusCode, 401);
  await put.body.dump();
});

access('a browser without the token gets a token form, not the dashboard', async () => {
  const r = await get('/_sluice/', { accept: 'text/html,application/xhtml+xml' });
  assert.is(r.status, 401);
  assert.match(r.headers['content-type'] as string, 'text/html');
  assert.match(r.body, 'name="token"');
  assert.not.match(r.body, 'dashboard/events', 'the dashboard script is not in it');
});

access('?token= opens the page and its feed, and nothing else', async () => {
  const page = await get(`/_sluice/?token=${TOKEN}`, { accept: 'text/html' });
  assert.is(page.status, 200);
  assert.match(page.body, '/_sluice/dashboard/events');
  assert.match(page.headers['content-security-policy'] as string, "default-src 'none'");
  assert.is(page.headers['referrer-policy'], 'no-referrer');
  assert.is((await get(`/_sluice/?token=wrong`)).status, 401);
  for (const path of ['metrics', 'cluster', 'targets']) {
    assert.is((await get(`/_sluice/${path}?token=${TOKEN}`)).status, 401, `${path} needs the header`);
  }
  const del = await request(`${node.url}/_sluice/targets/x?token=${TOKEN}`, { method: 'DELETE' });
  assert.is(del.statusCode, 401);
  await del.body.dump();

  const feed = await request(`${node.url}/_sluice/dashboard/events?token=${TOKEN}`);
  assert.is(feed.statusCode, 200);
  assert.match(feed.headers['content-type'] as string, 'text/event-stream');
  let text = '';
  for await (const chunk of feed.body) {
    text += String(chunk);
    if (text.includes('event: snapshot') && text.includes('\n\n', text.indexOf('event: snapshot'))) break;
  }
  feed.body.destroy();
  const data = JSON.parse(/event: snapshot\ndata: (.*)\n\n/.exec(text)![1]!) as { state: { node: string; cluster: string; nodes: string[] } };
  assert.equal([data.state.node, data.state.cluster, data.state.nodes], ['acc', 'c1', ['acc']]);
});

access('the bearer header opens the page too', async () => {
  const r = await get('/_sluice/', { authorization: `Bearer ${TOKEN}` });
  assert.is(r.status, 200);
  assert.match(r.body, '/_sluice/dashboard/events');
});

access.run();
