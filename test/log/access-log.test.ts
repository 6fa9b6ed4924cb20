// Access lines: one JSON line per proxied request, through pino to a stream the test reads, with the
// fields the handlers filled in (batch, limit decision, replica, timings), and X-Request-Id both ways.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { createNodeLog } from '../../src/log/logger.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

type Line = Record<string, unknown>;

/** A pino destination keeping each line, with a wait for the n-th access line. */
class Capture {
  readonly lines: Line[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  write(s: string): void {
    this.lines.push(JSON.parse(s) as Line);
    const n = this.access().length;
    this.waiters = this.waiters.filter((w) => (n >= w.n ? (w.resolve(), false) : true));
  }
  access(): Line[] { return this.lines.filter((l) => l.msg === 'access'); }
  /** Resolves once `n` access lines were written; fails the test after 5 s. */
  until(n: number): Promise<Line[]> {
    if (this.access().length >= n) return Promise.resolve(this.access());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.access().length} access lines, waited for ${n}`)), 5_000);
      this.waiters.push({ n, resolve: () => { clearTimeout(t); resolve(this.access()); } });
    });
  }
}

const access = suite('access log');
let up: UpstreamStub;
let node: SluiceNode;
const capture = new Capture();

access.before(async () => {
  up = await UpstreamStub.start();
  const logs = createNodeLog({ level: 'info', access: true, destination: capture });
  node = await startNode({
    node: { id: 'log-1' },
    targets: [
      { name: 'plain', prefix: '/plain', replicas: [up.url], batch: { mode: 'none' }, limits: [{ name: 'two', limit: 2, windowMs: 3_600_000, per: 'ip' }] },
      { name: 'shared', prefix: '/shared', replicas: [up.url], batch: { mode: 'coalesce' } },
      { name: 'cached', prefix: '/cached', replicas: [up.url], cache: { enabled: true, ttlMs: 3_600_000, upstreamHeaders: 'ignore' } },
      { name: 'batch', prefix: '/batch', replicas: [up.url], batch: { mode: 'merge', maxWaitMs: 10_000, maxBatchSize: 3 } },
    ],
  }, { log: logs.log, access: logs.access });
});
access.after(async () => { await node.stop(); await up.close(); });

const FIELDS = ['requestId', 'target', 'method', 'path', 'status', 'totalMs'];

access('a pass-through request logs one line with its limit decision, replica and timings; a refused one says rejected', async () => {
  up.handler = (_r, res) => { res.writeHead(200); res.end('ok'); };
  const start = capture.access().length;
  for (let i = 0; i < 3; i++) await (await request(`${node.url}/plain/p?i=${i}`)).body.text();
  const lines = (await capture.until(start + 3)).slice(start);
  assert.is(lines.length, 3);
  for (const l of lines) for (const f of FIELDS) assert.ok(l[f] !== undefined, `field ${f} in ${JSON.stringify(l)}`);
  assert.equal(lines.map((l) => l.status), [200, 200, 429]);
  assert.equal(lines.map((l) => l.limit), ['admitted', 'admitted', 'rejected']);
  assert.is(lines[0]!.target, 'plain');
  assert.is(lines[0]!.method, 'GET');
  assert.is(lines[0]!.path, '/plain/p');
  assert.is(lines[0]!.replica, up.url);
  assert.type(lines[0]!.upstreamMs, 'number');
  assert.is(lines[0]!.batchId, undefined);
  assert.is(lines[2]!.replica, undefined, 'a refused request reached no replica');
});

access('coalesced requests log one line each, naming the batch that served them and its size', async () => {
  up.handler = (_r, res) => { res.writeHead(200); res.end('shared'); };
  const start = capture.access().length;
  const calls = up.calls;
  await Promise.all(Array.from({ length: 5 }, () => request(`${node.url}/shared/same`).then((r) => r.body.text())));
  const lines = (await capture.until(start + 5)).slice(start);
  assert.is(lines.length, 5);
  // One upstream call per batch, and each batch's size is the number of lines naming it.
  const batches = new Map<unknown, Line[]>();
  for (const l of lines) batches.set(l.batchId, [...(batches.get(l.batchId) ?? []), l]);
  assert.is(batches.size, up.calls - calls);
  for (const [id, ls] of batches) {
    assert.ok(typeof id === 'string' && id.length > 0);
    assert.ok(ls.every((l) => l.batchSize === ls.length), `batch ${String(id)}: ${ls.map((l) => l.batchSize)}`);
  }
  for (const l of lines) {
    assert.is(l.target, 'shared');
    assert.is(l.status, 200);
    assert.is(l.replica, up.url);
    assert.type(l.upstreamMs, 'number');
  }
  assert.is(new Set(lines.map((l) => l.requestId)).size, 5, 'each request its own id');
});

access('merged requests log their batch id and size', async () => {
  up.handler = (r, res) => {
    const items = JSON.parse(r.body.toString()) as unknown[];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(items.map((x) => ({ echo: x }))));
  };
  const start = capture.access().length;
  await Promise.all([1, 2, 3].map((i) => request(`${node.url}/batch/items`, {
    method: 'POST', body: JSON.stringify({ i }), headers: { 'content-type': 'application/json' },
  }).then((r) => r.body.text())));
  const lines = (await capture.until(start + 3)).slice(start);
  assert.equal(lines.map((l) => l.batchSize), [3, 3, 3]);
  assert.is(new Set(lines.map((l) => l.batchId)).size, 1);
  assert.equal(lines.map((l) => l.method), ['POST', 'POST', 'POST']);
});

access('a cached target says miss, then hit', async () => {
  up.handler = (_r, res) => { res.writeHead(200); res.end('kept'); };
  const start = capture.access().length;
  for (let i = 0; i < 2; i++) await (await request(`${node.url}/cached/c`)).body.text();
  const lines = (await capture.until(start + 2)).slice(start);
  assert.equal(lines.map((l) => l.cache), ['miss', 'hit']);
  assert.is(lines[1]!.replica, undefined, 'a hit reaches no replica');
});

access('a request for no target is logged too', async () => {
  const start = capture.access().length;
  const r = await request(`${node.url}/nowhere`);
  await r.body.text();
  const [l] = (await capture.until(start + 1)).slice(start);
  assert.equal({ target: l!.target, status: l!.status, path: l!.path }, { target: 'none', status: 404, path: '/nowhere' });
});

access('a sane client X-Request-Id travels to the upstream and back and names the line; another gets a fresh id', async () => {
  up.handler = (_r, res) => { res.writeHead(200); res.end('ok'); };
  const start = capture.access().length;
  const before = up.received.length;
  const r = await request(`${node.url}/shared/rid`, { headers: { 'x-request-id': 'client-abc.123' } });
  await r.body.text();
  assert.is(r.headers['x-request-id'], 'client-abc.123');
  assert.is(up.received[before]!.headers['x-request-id'], 'client-abc.123');
  const bad = await request(`${node.url}/shared/rid2`, { headers: { 'x-request-id': 'two words' } });
  await bad.body.text();
  const fresh = bad.headers['x-request-id'];
  assert.ok(typeof fresh === 'string' && fresh !== 'two words');
  assert.is(up.received[before + 1]!.headers['x-request-id'], fresh);
  const lines = (await capture.until(start + 2)).slice(start);
  assert.equal(lines.map((l) => l.requestId), ['client-abc.123', fresh]);
});

access.run();
