// Pass-through fidelity and error mapping against real upstream stubs on loopback.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub, deferred } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { settlesWithin } from '../support/wait.ts';
import { deadReplica, type DeadReplica } from '../support/ports.ts';

const gateway = suite('gateway pass-through');
let up: UpstreamStub;
let node: SluiceNode;
let dead: DeadReplica;

gateway.before(async () => {
  up = await UpstreamStub.start();
  dead = await deadReplica();
  node = await startNode({
    node: { id: 'gw-1' },
    targets: [
      { name: 'api', prefix: '/api', replicas: [up.url + '/base'], batch: { mode: 'none' }, maxBodyBytes: 8 * 1024 * 1024 },
      { name: 'small', prefix: '/small', replicas: [up.url], batch: { mode: 'none' }, maxBodyBytes: 1024 },
      { name: 'dead', prefix: '/dead', replicas: [dead.url], retry: { attempts: 1 } },
      { name: 'slow', prefix: '/slow', replicas: [up.url], timeoutMs: 100, batch: { mode: 'none' }, retry: { attempts: 1 } },
    ],
  });
});
gateway.after(async () => { await node.stop(); await up.close(); await dead.close(); });

const echo = () => {
  up.handler = (r, res) => {
    res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes', connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'set-cookie': ['a=1', 'b=2'] });
    res.end(JSON.stringify({ method: r.method, url: r.url, headers: r.headers, size: r.body.length }));
  };
};

gateway('forwards method, path, query and end-to-end headers, and strips hop-by-hop ones both ways', async () => {
  echo();
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const) {
    const r = await request(`${node.url}/api/things/7?x=1&y=a%20b`, {
      method, headers: { 'x-custom': 'v', 'proxy-authorization': 'p' },
      ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: 'hello' } : {}),
    });
    const body = (await r.body.json()) as { method: string; url: string; headers: Record<string, string> };
    assert.is(r.statusCode, 201);
    assert.is(body.method, method);
    assert.is(body.url, '/base/things/7?x=1&y=a%20b');
    assert.is(body.headers['x-custom'], 'v');
    assert.is(body.headers['proxy-authorization'], undefined);
    assert.ok(body.headers['x-forwarded-for']?.includes('127.0.0.1'));
    assert.ok(body.headers['x-forwarded-host']?.startsWith('127.0.0.1:'));
    assert.is(body.headers['x-forwarded-proto'], 'http');
    assert.is(r.headers['x-upstream'], 'yes');
    assert.is(r.headers['x-hop'], undefined, 'a header named in Connection is hop-by-hop');
    assert.equal(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.is(r.headers['x-sluice-node'], 'gw-1');
  }
});

/** Sends raw HTTP/1.1 so the test controls headers a client library would rewrite (Connection, TE). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('close', () => resolve(data));
  });
}

gateway('drops headers the client names in Connection, and TE, before the upstream sees them', async () => {
  echo();
  const answer = await rawRequest(node.port, 'GET /api/h HTTP/1.1\r\nhost: x\r\nconnection: close, x-drop-me\r\nx-drop-me: 1\r\nte: trailers\r\nx-keep: 2\r\n\r\n');
  const seen = up.received.at(-1)!.headers;
  assert.match(answer, /^HTTP\/1\.1 201/);
  assert.is(seen['x-drop-me'], undefined);
  assert.is(seen['te'], undefined);
  assert.is(seen['x-keep'], '2');
});

gateway('passes every status code through', async () => {
  for (const status of [200, 204, 301, 400, 404, 418, 500, 503]) {
    up.handler = (_r, res) => { res.writeHead(status, status === 301 ? { location: '/x' } : {}); res.end(); };
    const r = await request(`${node.url}/api/s`);
    await r.body.dump();
    assert.is(r.statusCode, status);
  }
});

gateway('carries multi-megabyte bodies both ways byte for byte', async () => {
  const payload = randomBytes(5 * 1024 * 1024);
  up.handler = (r, res) => { res.writeHead(200); res.end(Buffer.concat([r.body, r.body])); };
  const r = await request(`${node.url}/api/upload`, { method: 'POST', body: payload });
  const got = Buffer.from(await r.body.arrayBuffer());
  assert.is(got.length, payload.length * 2);
  assert.ok(got.subarray(0, payload.length).equals(payload));
  assert.is(up.received.at(-1)!.body.length, payload.length);
});

gateway('streams the reply: the client sees the first chunk before the upstream finishes', async () => {
  const release = deferred();
  up.handler = async (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    await release.promise;
    res.end('data: last\n\n');
  };
  const r = await request(`${node.url}/api/stream`);
  const it = r.body[Symbol.asyncIterator]();
  const first = await it.next();
  assert.is(Buffer.from(first.value).toString(), 'data: first\n\n');
  release.resolve();
  let rest = '';
  for (let c = await it.next(); !c.done; c = await it.next()) rest += Buffer.from(c.value).toString();
  assert.is(rest, 'data: last\n\n');
});

gateway('streams a chunked request body to the upstream', async () => {
  up.handler = (r, res) => { res.writeHead(200); res.end(String(r.body.length)); };
  const body = Readable.from((function* () { for (let i = 0; i < 100; i++) yield Buffer.alloc(10_000, i); })());
  const r = await request(`${node.url}/api/chunked`, { method: 'POST', body });
  assert.is(await r.body.text(), '1000000');
});

gateway('an unknown route is a 404 problem', async () => {
  const r = await request(`${node.url}/nowhere`);
  const p = (await r.body.json()) as { status: number; type: string; instance: string };
  assert.is(r.statusCode, 404);
  assert.is(r.headers['content-type'], 'application/problem+json');
  assert.is(p.status, 404);
  assert.is(p.instance, '/nowhere');
  assert.is(r.headers['x-sluice-node'], 'gw-1');
});

gateway('a prefix matches on segment boundaries only', async () => {
  const r = await request(`${node.url}/apix`);
  await r.body.dump();
  assert.is(r.statusCode, 404);
});

gateway('an unreachable upstream is a 502 problem', async () => {
  const r = await request(`${node.url}/dead/x`);
  const p = (await r.body.json()) as { code: string };
  assert.is(r.statusCode, 502);
  assert.is(p.code, 'SLUICE_UPSTREAM_UNAVAILABLE');
  assert.is(r.headers['x-sluice-node'], 'gw-1', 'errors of proxied requests carry the node too');
});

gateway('an upstream slower than timeoutMs is a 504 problem', async () => {
  const never = deferred();
  up.handler = async (_r, res) => { await never.promise; res.end(); };
  const r = await request(`${node.url}/slow/x`);
  const p = (await r.body.json()) as { code: string };
  assert.is(r.statusCode, 504);
  assert.is(p.code, 'SLUICE_UPSTREAM_TIMEOUT');
  never.resolve();
});

gateway('a body over maxBodyBytes is a 413, by Content-Length before any upstream call, or mid-stream', async () => {
  const before = up.calls;
  const r = await request(`${node.url}/small/x`, { method: 'POST', body: Buffer.alloc(2048) });
  assert.is(r.statusCode, 413);
  assert.is(r.headers['x-sluice-node'], 'gw-1');
  assert.is(((await r.body.json()) as { code: string }).code, 'SLUICE_BODY_TOO_LARGE');
  assert.is(up.calls, before, 'no upstream call for a declared oversize body');

  up.handler = (_r, res) => { res.writeHead(200); res.end(); };
  const chunked = Readable.from((function* () { for (let i = 0; i < 10; i++) yield Buffer.alloc(512); })());
  const r2 = await request(`${node.url}/small/x`, { method: 'POST', body: chunked });
  assert.is(r2.statusCode, 413);
  await r2.body.dump();
});

gateway('malformed HTTP gets a 400 and is counted, and the node keeps serving', async () => {
  const answer = await rawRequest(node.port, 'GARBAGE / HTTP/9.9\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 400/);
  const metrics = await (await request(`${node.url}/_sluice/metrics`)).body.text();
  assert.match(metrics, /sluice_http_rejected_total\{reason="HPE_[A-Z_]+",node="gw-1"\} 1/);
  up.handler = (_r, res) => { res.end('still here'); };
  assert.is(await (await request(`${node.url}/api/ok`)).body.text(), 'still here');
});

gateway('the client leaving aborts the upstream call', async () => {
  const upstreamClosed = deferred();
  up.handler = (_r, res) => { res.on('close', () => upstreamClosed.resolve()); res.writeHead(200); res.write('partial'); };
  const ac = new AbortController();
  const r = await request(`${node.url}/api/hang`, { signal: ac.signal });
  ac.abort();
  await r.body.dump().catch(() => {});
  assert.ok(await settlesWithin(upstreamClosed.promise, 5_000), 'sluice closed its upstream request within 5 s of the client leaving');
});

gateway.run();
