// Dispatch through the gateway against real upstream stubs: an open breaker's 503, a full queue's
// 503, session affinity by header and cookie, and the replica state in the admin API and metrics.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../src/node.ts';
import { deferred, UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const dispatch = suite('gateway dispatch');
let a: UpstreamStub;
let b: UpstreamStub;
let flaky: UpstreamStub;
let node: SluiceNode;
let i = 0;

dispatch.before(async () => {
  const named = (name: string) => UpstreamStub.start((_r, res) => { res.writeHead(200); res.end(name); });
  [a, b, flaky] = await Promise.all([named('A'), named('B'), UpstreamStub.start((_r, res) => { res.writeHead(500); res.end('down'); })]);
  const none = { batch: { mode: 'none' } };
  node = await startNode({
    node: { id: 'dsp' },
    targets: [
      { name: 'flaky', prefix: '/flaky', replicas: [flaky.url], ...none, retry: { attempts: 1 }, breaker: { consecutiveFailures: 2, openMs: 30_000 } },
      { name: 'sticky', prefix: '/sticky', replicas: [a.url, b.url], ...none, dispatch: { affinity: { header: 'x-session-id', cookie: 'sid', ttlMs: 60_000 } } },
      { name: 'narrow', prefix: '/narrow', replicas: [a.url], ...none, dispatch: { concurrency: 1, queue: 0 } },
    ],
  // Ties between idle replicas alternate, so without affinity one session's calls would too.
  }, { random: () => (i++ % 2 === 0 ? 0 : 0.99) });
});
dispatch.after(async () => { await node.stop(); await Promise.all([a.close(), b.close(), flaky.close()]); });

const admin = async (path: string) => (await request(`${node.url}/_sluice/${path}`)).body;

dispatch('an open breaker answers 503 with Retry-After without calling the upstream', async () => {
  for (let k = 0; k < 2; k++) {
    const r = await request(`${node.url}/flaky/x`);
    await r.body.dump();
    assert.is(r.statusCode, 500);
  }
  const r = await request(`${node.url}/flaky/x`);
  const p = (await r.body.json()) as { code: string; status: number };
  assert.is(r.statusCode, 503);
  assert.is(p.code, 'SLUICE_BREAKER_OPEN');
  assert.is(r.headers['content-type'], 'application/problem+json');
  const retryAfter = Number(r.headers['retry-after']);
  assert.ok(retryAfter > 25 && retryAfter <= 30, `Retry-After ${retryAfter}`);
  assert.is(flaky.calls, 2);
});

dispatch('the target view shows each replica\'s live state', async () => {
  const t = (await (await admin('targets/flaky')).json()) as { replicaState: { replicas: Array<Record<string, unknown>> } };
  const [r] = t.replicaState.replicas;
  assert.is(r!.replica, flaky.url);
  assert.is(r!.breaker, 'open');
  assert.is(r!.calls, 2);
  assert.is(r!.errors, 2);
  assert.equal([r!.inFlight, r!.queued, r!.concurrency, r!.queueCap], [0, 0, 64, 256]);
  assert.equal((r!.lastTransition as { reason: string }).reason, 'consecutive-failures');
});

dispatch('metrics show replica load, capacity and breaker state', async () => {
  const text = await (await admin('metrics')).text();
  assert.match(text, `sluice_replica_breaker_state{target="flaky",replica="${flaky.url}",state="open",node="dsp"} 1`);
  assert.match(text, `sluice_replica_capacity{target="flaky",replica="${flaky.url}"`);
  assert.match(text, `sluice_replica_in_flight{target="sticky",replica="${a.url}"`);
  assert.match(text, /sluice_replica_breaker_transitions_total\{[^}]*from="closed",to="open"[^}]*\} 1/);
  assert.match(text, /sluice_dispatch_refused_total\{target="flaky",reason="breaker_open"[^}]*\} 1/);
});

dispatch('a session keeps to one replica, by header or by cookie', async () => {
  const bodies = async (headers: Record<string, string>) => {
    const seen: string[] = [];
    for (let k = 0; k < 6; k++) seen.push(await (await request(`${node.url}/sticky/x`, { headers })).body.text());
    return seen;
  };
  const anonymous = await bodies({});
  assert.equal(new Set(anonymous).size, 2, 'without a session, ties alternate');
  for (const headers of [{ 'x-session-id': 'u1' }, { 'x-session-id': 'u2' }, { cookie: 'theme=dark; sid=c1' }] as Array<Record<string, string>>) {
    assert.is(new Set(await bodies(headers)).size, 1, JSON.stringify(headers));
  }
  const sessions = (await (await admin('targets/sticky')).json()) as { replicaState: { affinity: { sessions: number } } };
  assert.is(sessions.replicaState.affinity.sessions, 3);
});

dispatch('a full queue answers 503 at once while the replica is busy', async () => {
  const gate = deferred();
  a.handler = async (_r, res) => { await gate.promise; res.end('A'); };
  const busy = request(`${node.url}/narrow/x`);
  await a.arrived(a.calls + 1);
  const r = await request(`${node.url}/narrow/y`);
  const p = (await r.body.json()) as { code: string };
  assert.is(r.statusCode, 503);
  assert.is(p.code, 'SLUICE_QUEUE_FULL');
  assert.ok(Number(r.headers['retry-after']) >= 1);
  gate.resolve();
  assert.is(await (await busy).body.text(), 'A');
});

dispatch.run();
