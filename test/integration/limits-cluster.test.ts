// A shared limit across three sluice node PROCESSES over a real 3-server NATS cluster: each node on
// its own server, requests spread over them, 429 with its headers once the cluster total reaches the
// limit, and a node started mid-window that catches up before it admits anything.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startSluiceProcess } from '../support/sluice-process.ts';

const cluster = suite('shared limit across 3 node processes on a NATS cluster integration', { timeoutMs: 90_000 });

const LIMIT = 10;
let nats: NatsCluster;
let up: UpstreamStub;
let dir: string;
let windowMs: number;
const procs: ChildProcess[] = [];

/** A window length whose current window has minutes left, so the test never straddles two windows. */
function roomyWindowMs(now: number): number {
  for (const w of [3_600_000, 3_900_000, 4_200_000, 5_400_000]) if (w - (now % w) > 120_000) return w;
  throw new Error('no roomy window');
}

interface Node { id: string; url: string; proc: ChildProcess }

function startSluice(id: string, server: string): Promise<Node> {
  const started = startSluiceProcess(dir, id, {
    node: { id, port: 0, drainMs: 1_000 },
    cluster: { name: `lim${process.pid}`, heartbeatMs: 200, deadAfterMs: 2_000, syncMs: 500 },
    nats: { servers: [server] },
    targets: [{ name: 'llm', prefix: '/llm', replicas: [up.url], batch: { mode: 'none' }, limits: [{ name: 'rpm', limit: LIMIT, windowMs }] }],
  });
  void started.then((n) => procs.push(n.proc), () => {});
  return started;
}

async function call(n: Node): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const r = await request(`${n.url}/llm/x`);
  await r.body.text();
  return { status: r.statusCode, headers: r.headers };
}

/** The merged cluster total node `n` reports for the limit. */
async function totalSeen(n: Node): Promise<number> {
  const text = await (await request(`${n.url}/_sluice/metrics`)).body.text();
  const m = /sluice_limit_cluster_total\{target="llm",limit="rpm"[^}]*\} (\d+)/.exec(text);
  return m ? Number(m[1]) : -1;
}

/** Polls the nodes' metrics endpoints until each reports `total` (the gossip has arrived). */
async function untilAllSee(nodes: Node[], total: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await Promise.all(nodes.map(totalSeen));
    if (seen.every((s) => s === total)) return;
    if (Date.now() > deadline) throw new Error(`nodes see ${seen.join(', ')}, not ${total}`);
    await new Promise((r) => setTimeout(r, 25)); // polling an endpoint, not standing in for sync
  }
}

cluster.before(async () => {
  windowMs = roomyWindowMs(Date.now());
  dir = mkdtempSync(join(tmpdir(), 'sluice-limits-'));
  [nats, up] = await Promise.all([startNatsCluster(3), UpstreamStub.start()]);
});

cluster.after(async () => {
  await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
    if (p.exitCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  })));
  await Promise.all([nats?.close(), up?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

cluster('nodes share one limit over NATS, answer 429 with its headers at the limit, and a newcomer catches up mid-window', async () => {
  const [a, b] = await Promise.all([startSluice('a', nats.urls[0]!), startSluice('b', nats.urls[1]!)]);
  for (let i = 0; i < 4; i++) assert.is((await call(a)).status, 200);
  await untilAllSee([a, b], 4);
  for (let i = 0; i < 4; i++) assert.is((await call(b)).status, 200);
  await untilAllSee([a, b], 8);

  // c starts in the middle of the window on the third server and must not count from zero.
  const c = await startSluice('c', nats.urls[2]!);
  const answers = [await call(c), await call(c), await call(c)];
  assert.equal(answers.map((r) => r.status), [200, 200, 429]);
  const limited = answers[2]!.headers;
  const resetS = Number(limited['ratelimit-reset']);
  assert.is(limited['ratelimit-limit'], String(LIMIT));
  assert.is(limited['ratelimit-remaining'], '0');
  assert.ok(resetS > 60 && resetS <= windowMs / 1000, `reset ${resetS}`);
  assert.is(Number(limited['retry-after']), resetS);
  assert.is(limited['x-sluice-node'], 'c');
  assert.is(up.calls, LIMIT);

  await untilAllSee([a, b, c], LIMIT);
  assert.is((await call(a)).status, 429);
  assert.is((await call(b)).status, 429);
  assert.is(up.calls, LIMIT);
});

cluster.run();
