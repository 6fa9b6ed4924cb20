// The response cache end to end: a real upstream stub counting calls, a node on a virtual clock.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { Agent, request } from 'undici';
import { realClock, type Clock } from '../../src/clock.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const http = suite('response cache over HTTP');
let up: UpstreamStub;
let node: SluiceNode;
// Time stands still unless the test moves it (ages and TTLs are exact); timers are real, so the
// request path (coalescing's flush) runs as in production.
let now = Date.UTC(2026, 0, 1);
const clock: Clock & { advance(ms: number): void } = {
  now: () => now, setTimeout: realClock.setTimeout, clearTimeout: realClock.clearTimeout, advance: (ms) => { now += ms; },
};
const agent = new Agent({ connections: 20 });
const admin = { authorization: 'Bearer adm' };

http.before(async () => {
  up = await UpstreamStub.start();
  const target = (name: string, cache: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name, prefix: `/${name}`, replicas: [up.url], retry: { attempts: 1 }, batch: { maxWaitMs: 0 }, cache: { enabled: true, ...cache }, ...extra,
  });
  node = await startNode({
    node: { id: 'cache-http' }, admin: { token: 'adm' },
    targets: [
      target('rfc', {}),
      target('swr', { staleWhileRevalidateMs: 30_000 }),
      target('llm', { methods: ['POST'], upstreamHeaders: 'ignore', ttlMs: 60_000 }, { batch: { mode: 'none' } }),
      target('ign', { upstreamHeaders: 'ignore', ttlMs: 60_000 }),
      target('small', { upstreamHeaders: 'ignore', ttlMs: 60_000, maxEntryBytes: 1_000 }),
      { name: 'off', prefix: '/off', replicas: [up.url] },
    ],
  }, { clock });
});
http.after(async () => { await node.stop(); await up.close(); await agent.close(); });
http.before.each(() => {
  up.calls = 0;
  up.received.length = 0;
  up.handler = (r, res) => { res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }); res.end(`body of ${r.url}`); };
});

async function get(path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  const r = await request(`${node.url}${path}`, { dispatcher: agent, method: method as 'GET', headers, ...(body !== undefined ? { body } : {}) });
  return { status: r.statusCode, headers: r.headers as Record<string, string>, body: await r.body.text() };
}

http('a miss is stored and the next request is a hit with Cache-Status and Age', async () => {
  const first = await get('/rfc/a');
  assert.is(first.body, 'body of /a');
  assert.is(first.headers['cache-status'], 'sluice; fwd=uri-miss; fwd-status=200; stored');
  clock.advance(5_000);
  const second = await get('/rfc/a');
  assert.is(second.body, 'body of /a');
  assert.is(second.headers['cache-status'], 'sluice; hit; ttl=55');
  assert.is(second.headers['age'], '5');
  assert.is(second.headers['x-sluice-node'], 'cache-http');
  assert.is(up.calls, 1);
});

http('a target without cache.enabled never caches', async () => {
  await get('/off/a');
  const again = await get('/off/a');
  assert.is(again.headers['cache-status'], undefined);
  assert.is(up.calls, 2);
});

http('a stale entry with an ETag is validated; a 304 refreshes it and the client gets the body', async () => {
  up.handler = (r, res) => {
    if (r.headers['if-none-match'] === '"v1"') { res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=10' }); res.end(); return; }
    res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=10' }); res.end('version one');
  };
  await get('/rfc/etag');
  clock.advance(15_000);
  const validated = await get('/rfc/etag');
  assert.is(validated.status, 200);
  assert.is(validated.body, 'version one');
  assert.is(validated.headers['cache-status'], 'sluice; fwd=stale; fwd-status=304; ttl=10');
  assert.is(up.received[1]!.headers['if-none-match'], '"v1"');
  const hit = await get('/rfc/etag');
  assert.is(hit.headers['cache-status'], 'sluice; hit; ttl=10');
  assert.is(up.calls, 2);
});

http('a stale hot key within stale-while-revalidate costs one background call', async () => {
  const gate = deferred();
  let version = 1;
  up.handler = async (_r, res) => {
    if (version > 1) await gate.promise;
    res.writeHead(200, { 'cache-control': 'max-age=10' }); res.end(`v${version++}`);
  };
  await get('/swr/hot');
  clock.advance(20_000);
  for (let i = 0; i < 10; i++) {
    const r = await get('/swr/hot');
    assert.is(r.body, 'v1');
    assert.is(r.headers['cache-status'], 'sluice; hit; ttl=-10; detail="stale-while-revalidate"');
  }
  await up.arrived(2);
  assert.is(up.calls, 2);
  gate.resolve();
  await waitUntil(() => node.targets.get('swr')!.cache!.validating === 0);
  const fresh = await get('/swr/hot');
  assert.is(fresh.body, 'v2');
  assert.is(fresh.headers['cache-status'], 'sluice; hit; ttl=10');
});

http('stale-if-error answers with the stale entry when the upstream fails', async () => {
  up.handler = (_r, res) => { res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' }); res.end('good'); };
  await get('/rfc/sie');
  up.handler = (_r, res) => { res.writeHead(503); res.end('down'); };
  clock.advance(20_000);
  const r = await get('/rfc/sie');
  assert.is(r.status, 200);
  assert.is(r.body, 'good');
  assert.is(r.headers['cache-status'], 'sluice; fwd=stale; fwd-status=503; ttl=-10; detail="stale-if-error"');
  clock.advance(60_000);
  const past = await get('/rfc/sie');
  assert.is(past.status, 503);
});

http('two users, one URL: each gets their own answer (ignore mode)', async () => {
  up.handler = (r, res) => { res.writeHead(200); res.end(`for ${r.headers.authorization}`); };
  assert.is((await get('/ign/me', { authorization: 'alice' })).body, 'for alice');
  assert.is((await get('/ign/me', { authorization: 'bob' })).body, 'for bob');
  assert.is((await get('/ign/me', { authorization: 'alice' })).body, 'for alice');
  assert.is((await get('/ign/me', { authorization: 'bob' })).headers['cache-status'], 'sluice; hit; ttl=60');
  assert.is(up.calls, 2);
});

http('Set-Cookie answers are never stored', async () => {
  up.handler = (_r, res) => { res.writeHead(200, { 'set-cookie': 'sid=1', 'cache-control': 'public, max-age=60' }); res.end('x'); };
  assert.is((await get('/ign/cookie')).headers['cache-status'], 'sluice; fwd=uri-miss; fwd-status=200');
  await get('/ign/cookie');
  assert.is(up.calls, 2);
});

http('POST prompt cache: the same body is a hit, another body a miss', async () => {
  up.handler = (r, res) => { res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'application/json' }); res.end(`{"echo":${r.body.toString()}}`); };
  const q = (p: string) => get('/llm/v1/chat', { 'content-type': 'application/json', authorization: 'k1' }, 'POST', JSON.stringify({ prompt: p }));
  assert.is((await q('hi')).body, '{"echo":{"prompt":"hi"}}');
  const again = await q('hi');
  assert.is(again.body, '{"echo":{"prompt":"hi"}}');
  assert.is(again.headers['cache-status'], 'sluice; hit; ttl=60');
  await q('bye');
  assert.is(up.calls, 2);
  assert.is(up.received[1]!.body.toString(), '{"prompt":"bye"}', 'the body read for the key still reaches the upstream');
});

http('a successful unsafe method invalidates the URL and its Location', async () => {
  await get('/rfc/items');
  await get('/rfc/items/7');
  up.handler = (_r, res) => { res.writeHead(201, { location: '/items/7' }); res.end(); };
  const put = await get('/rfc/items', {}, 'POST', '{}');
  assert.is(put.headers['cache-status'], 'sluice; fwd=method');
  up.handler = (r, res) => { res.writeHead(200, { 'cache-control': 'max-age=60' }); res.end(`new ${r.url}`); };
  assert.is((await get('/rfc/items')).body, 'new /items');
  assert.is((await get('/rfc/items/7')).body, 'new /items/7');
  assert.is(up.calls, 5);
});

http('only-if-cached with nothing stored is 504', async () => {
  const r = await get('/rfc/never', { 'cache-control': 'only-if-cached' });
  assert.is(r.status, 504);
  assert.is(r.headers['cache-status'], 'sluice; fwd=miss; detail="only-if-cached"');
  assert.is(up.calls, 0);
});

http('an answer over maxEntryBytes is served but not stored', async () => {
  up.handler = (_r, res) => { res.writeHead(200); res.end('x'.repeat(5_000)); };
  assert.is((await get('/small/big')).body.length, 5_000);
  await get('/small/big');
  assert.is(up.calls, 2);
});

http('a streamed reply (SSE) is stored once complete and replayed as stored', async () => {
  const events = ['data: one\n\n', 'data: two\n\n', 'data: [DONE]\n\n'];
  up.handler = async (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) { res.write(e); await new Promise((r) => setImmediate(r)); }
    res.end();
  };
  const first = await get('/ign/stream');
  assert.is(first.body, events.join(''));
  const replay = await get('/ign/stream');
  assert.is(replay.body, events.join(''));
  assert.is(replay.headers['content-type'], 'text/event-stream');
  assert.is(replay.headers['cache-status'], 'sluice; hit; ttl=60');
  assert.is(up.calls, 1);
});

http('admin: GET shows entries, bytes and hit ratio; DELETE purges one path or all', async () => {
  await get('/ign/p1'); await get('/ign/p1'); await get('/ign/p2?x=1');
  const stats = (await (await request(`${node.url}/_sluice/targets/ign/cache`, { headers: admin })).body.json()) as Record<string, number>;
  assert.ok(stats['entries']! >= 2);
  assert.ok(stats['bytes']! > 0);
  assert.ok(stats['hitRatio']! > 0 && stats['hitRatio']! < 1);
  const one = await request(`${node.url}/_sluice/targets/ign/cache?path=/p2`, { method: 'DELETE', headers: admin });
  assert.equal(await one.body.json(), { purged: 1 });
  assert.is((await get('/ign/p1')).headers['cache-status'], 'sluice; hit; ttl=60');
  assert.is((await get('/ign/p2?x=1')).headers['cache-status'], 'sluice; fwd=uri-miss; fwd-status=200; stored');
  const all = await request(`${node.url}/_sluice/targets/ign/cache`, { method: 'DELETE', headers: admin });
  assert.ok(((await all.body.json()) as { purged: number }).purged >= 2);
  assert.is((await get('/ign/p1')).headers['cache-status'], 'sluice; fwd=uri-miss; fwd-status=200; stored');
  const off = await request(`${node.url}/_sluice/targets/off/cache`, { headers: admin });
  assert.is(off.statusCode, 404);
  await off.body.dump();
});

http('metrics count hits, misses, stale served, revalidations and bytes held', async () => {
  const text = await (await request(`${node.url}/_sluice/metrics`, { headers: admin })).body.text();
  for (const name of ['sluice_cache_hits_total', 'sluice_cache_misses_total', 'sluice_cache_stale_served_total',
    'sluice_cache_revalidations_total', 'sluice_cache_evictions_total', 'sluice_cache_bytes']) {
    assert.ok(text.includes(name), name);
  }
  assert.match(text, /sluice_cache_hits_total\{[^}]*target="rfc"[^}]*\} [1-9]/);
});

http.run();

async function waitUntil(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}
