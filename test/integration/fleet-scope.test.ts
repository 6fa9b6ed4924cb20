// Fleet scope on real infrastructure (issue #10): three sluice node PROCESSES, each on its own
// server of a 3-server NATS cluster, each receiving the same steady stream of one hot GET with
// `batch.scope: cluster`. The upstream stub counts the calls: fleet-wide they stay within 1.3 × one
// node's single-flight ideal (run time ÷ upstream latency, computed here). Then the key's owner is
// SIGKILLed mid-stream: every request sent to the survivors is still answered 200.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { coalesceKey } from '../../src/batch/index.ts';
import { ownerOf, ownerRing } from '../../src/cluster/rendezvous.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startSluiceProcess, type SluiceProcess } from '../support/sluice-process.ts';

const fleet = suite('fleet scope across 3 node processes on a NATS cluster integration', { timeoutMs: 90_000 });

const UPSTREAM_MS = 100;
const RUN_MS = 2_000;
/** Per node: one request every 10 ms, so rate × latency = 10 clients per call per node. */
const EVERY_MS = 10;
const IDS = ['fa', 'fb', 'fc'];
const AUTH = 'Bearer fleet-user';
const OWNER = ownerOf(ownerRing(IDS), coalesceKey({ method: 'GET', path: '/hot', query: '', headers: { authorization: AUTH } }, { vary: [], public: false }))!;

let nats: NatsCluster;
let up: UpstreamStub;
let dir: string;
const nodes: SluiceProcess[] = [];
const agent = new Agent({ connections: 200 });
let calls: number[] = [];

fleet.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-fleet-'));
  nats = await startNatsCluster(3);
  up = await UpstreamStub.start((_req, res) => {
    calls.push(Date.now());
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('hot'); }, UPSTREAM_MS); // the upstream's latency
  });
  nodes.push(...await Promise.all(IDS.map((id, i) => startSluiceProcess(dir, id, {
    node: { id, port: 0, drainMs: 1_000 },
    cluster: { name: `fleet${process.pid}`, heartbeatMs: 100, deadAfterMs: 600 },
    nats: { servers: [nats.urls[i]!] },
    targets: [{ name: 'api', prefix: '/api', replicas: [up.url], retry: { attempts: 1 }, batch: { mode: 'coalesce', scope: 'cluster' } }],
  }))));
  // Ownership needs every node to see the others: wait on /_sluice/cluster (a readiness poll).
  const deadline = Date.now() + 10_000;
  for (const n of nodes) {
    for (;;) {
      const r = await request(`${n.url}/_sluice/cluster`, { dispatcher: agent }).then((x) => x.body.json() as Promise<{ nodes: string[] }>, () => ({ nodes: [] }));
      if (r.nodes.length === 3) break;
      if (Date.now() > deadline) throw new Error(`${n.id} sees ${JSON.stringify(r.nodes)}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }
});

fleet.after(async () => {
  for (const n of nodes) if (n.proc.exitCode === null) n.proc.kill('SIGKILL');
  await agent.close();
  await up?.close();
  await nats?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Tally { sent: number; ok: number; other: string[] }

/** An open-loop stream: one request every EVERY_MS to `n` until `stop()` says so; never waits for answers. */
function stream(n: SluiceProcess, tally: Tally, stop: () => boolean): Promise<void> {
  const inflight: Promise<void>[] = [];
  return new Promise<void>((resolve) => {
    const tick = setInterval(() => { // pacing the load, not synchronising
      if (stop()) { clearInterval(tick); void Promise.all(inflight).then(() => resolve()); return; }
      tally.sent++;
      inflight.push(request(`${n.url}/api/hot`, { dispatcher: agent, headers: { authorization: AUTH } }).then(async (r) => {
        const body = await r.body.text();
        if (r.statusCode === 200 && body === 'hot') tally.ok++;
        else tally.other.push(`${r.statusCode} ${body.slice(0, 120)}`);
      }, (err: Error) => { tally.other.push(`${n.id}: ${err.message}`); }));
    }, EVERY_MS);
  });
}

fleet('three nodes on one hot key make about one node\'s single-flight calls; the owner killed mid-stream costs no answer', async () => {
  // Phase 1: the steady stream at every node.
  calls = [];
  const tallies = nodes.map(() => ({ sent: 0, ok: 0, other: [] as string[] }));
  const started = Date.now();
  let endAt = started + RUN_MS;
  await Promise.all(nodes.map((n, i) => stream(n, tallies[i]!, () => Date.now() >= endAt)));
  const runMs = Date.now() - started;
  const fleetCalls = calls.length;
  const ideal = runMs / UPSTREAM_MS;
  for (const t of tallies) assert.equal(t.other, [], 'every request answered 200');
  assert.ok(fleetCalls <= 1.3 * ideal, `fleet-wide ${fleetCalls} upstream calls for ${tallies.reduce((s, t) => s + t.sent, 0)} requests; ideal ${ideal.toFixed(1)}, bound ${(1.3 * ideal).toFixed(1)}`);

  // Phase 2: the same streams; the owner is killed a third of the way in. Its own clients lose their
  // connections with it; every request sent to a survivor must still be answered 200.
  const owner = nodes.find((n) => n.id === OWNER)!;
  const survivors = nodes.filter((n) => n !== owner);
  const after = survivors.map(() => ({ sent: 0, ok: 0, other: [] as string[] }));
  endAt = Date.now() + 1_500;
  const running = survivors.map((n, i) => stream(n, after[i]!, () => Date.now() >= endAt));
  await new Promise((r) => setTimeout(r, 500)); // mid-stream: forwards are in flight at the owner
  owner.proc.kill('SIGKILL');
  await Promise.all(running);
  if (process.env.FLEET_DEBUG) {
    console.log({ runMs, fleetCalls, tallies, after: after.map((t) => ({ ...t, other: t.other.slice(0, 5) })), took: Date.now() - endAt });
    for (const n of survivors) console.log(n.id, JSON.stringify((await (await request(`${n.url}/_sluice/targets/api`, { dispatcher: agent })).body.json() as { batchState: unknown }).batchState));
  }
  for (const [i, t] of after.entries()) {
    assert.ok(t.sent >= 20, `${survivors[i]!.id} sent ${t.sent}`);
    assert.equal(t.other, [], `${survivors[i]!.id}: every request answered 200`);
    assert.is(t.ok, t.sent);
  }
});

fleet.run();
