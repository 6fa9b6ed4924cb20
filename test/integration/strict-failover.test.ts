// A strict limit across three sluice node PROCESSES on a real 3-server NATS cluster (each node on its
// own server): load above the limit through every node, the singleton holder killed (SIGKILL) in the
// middle of a window. The stub upstream counts the calls that arrive in each window: none may hold
// more than the limit, before, during or after the failover; a new holder shows in /_sluice/cluster
// within the documented time (leaseMs + 2 renewals), and windows after the fence are used again.
// Issue #6.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { singletonTimings, successorWithinMs } from '../../src/actors/singleton.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startSluiceProcess } from '../support/sluice-process.ts';

const failover = suite('strict limit failover across 3 node processes on a NATS cluster integration', { timeoutMs: 90_000 });

const LIMIT = 30;
const WINDOW_MS = 1_000;
const CLUSTER = { name: `strict${process.pid}`, heartbeatMs: 100, deadAfterMs: 600, syncMs: 100, maxClockSkewMs: 20 };
/** The documented bound (docs/strict-limits.md): the lease runs out, then at most two rounds. */
const SUCCESSOR_WITHIN_MS = successorWithinMs(singletonTimings(CLUSTER));
/** Room for polling, process scheduling and NATS routing on a shared 2-core machine. */
const SLACK_MS = 500;

let nats: NatsCluster;
let up: UpstreamStub;
let dir: string;
const procs: ChildProcess[] = [];
const arrivals: number[] = [];

interface Node { id: string; url: string; proc: ChildProcess }

function startSluice(id: string, server: string): Promise<Node> {
  const started = startSluiceProcess(dir, id, {
    node: { id, port: 0, drainMs: 1_000 },
    cluster: CLUSTER,
    nats: { servers: [server] },
    targets: [{
      name: 'paid', prefix: '/paid', replicas: [up.url], batch: { mode: 'none' }, retry: { attempts: 1 },
      limits: [{ name: 'rps', limit: LIMIT, windowMs: WINDOW_MS, mode: 'strict', prefetch: { predictWindowMs: 500, minPrefetch: 3, closeWaitMs: 100 } }],
    }],
  });
  void started.then((n) => procs.push(n.proc), () => {});
  return started;
}

async function holderSeenBy(n: Node): Promise<string | null> {
  try {
    const r = await request(`${n.url}/_sluice/cluster`);
    return ((await r.body.json()) as { singleton: string | null }).singleton;
  } catch {
    return null;
  }
}

/** Polls /_sluice/cluster (a readiness poll, not a sleep standing in for an event) until `ok`. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Sends requests to `n` one after another until `endAt`, only in the middle of windows (phase 150 to
 * 850 ms), so a call counted by the stub falls in the window its permit came from.
 */
async function load(n: Node, endAt: number, stats: { ok: number; limited: number; failed: number }, pause?: { from: number; to: number }): Promise<void> {
  while (Date.now() < endAt) {
    if (pause && Date.now() >= pause.from && Date.now() < pause.to) {
      await new Promise((r) => setTimeout(r, pause.to - Date.now()));
      continue;
    }
    const phase = Date.now() % WINDOW_MS;
    if (phase < 150 || phase > 850) {
      await new Promise((r) => setTimeout(r, (WINDOW_MS + 150 - phase) % WINDOW_MS)); // pacing the load, not synchronising
      continue;
    }
    try {
      const r = await request(`${n.url}/paid/x`);
      await r.body.text();
      if (r.statusCode === 200) stats.ok++;
      else if (r.statusCode === 429) stats.limited++;
      else stats.failed++;
    } catch {
      stats.failed++; // the killed node's connections
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

failover.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-strict-'));
  nats = await startNatsCluster(3);
  up = await UpstreamStub.start((_req, res) => { arrivals.push(Date.now()); res.writeHead(200); res.end('ok'); });
});

failover.after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await up?.close();
  await nats?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

failover('killing the holder mid-window over-grants no window, and a new holder appears in time', async () => {
  const nodes = await Promise.all(['a', 'b', 'c'].map((id, i) => startSluice(id, nats.urls[i]!)));
  const first = await until(async () => Promise.all(nodes.map(holderSeenBy)), (hs) => hs[0] !== null && hs.every((h) => h === hs[0]), 15_000);
  const holder = nodes.find((n) => n.id === first[0])!;
  const survivors = nodes.filter((n) => n !== holder);

  // Load through every node from the next window start, for five windows.
  const start = (Math.floor(Date.now() / WINDOW_MS) + 1) * WINDOW_MS;
  const endAt = start + 5 * WINDOW_MS;
  const stats = { ok: 0, limited: 0, failed: 0 };
  await new Promise((r) => setTimeout(r, start - Date.now()));
  // In the second window only the holder's node takes requests until it is killed, early in the window;
  // then the others do. The successor takes over within that window, and nobody it hears from leased
  // in it: only the fence keeps it from leasing the window's budget a second time.
  const killAt = start + WINDOW_MS + 250;
  const running = nodes.flatMap((n) => [1, 2].map(() => load(n, endAt, stats, n === holder ? undefined : { from: start + WINDOW_MS, to: killAt })));
  await new Promise((r) => setTimeout(r, killAt - Date.now()));
  const killedAt = Date.now();
  holder.proc.kill('SIGKILL');
  const next = await until(async () => Promise.all(survivors.map(holderSeenBy)),
    (hs) => hs.every((h) => h !== null && h !== holder.id && h === hs[0]), SUCCESSOR_WITHIN_MS + SLACK_MS + 2_000);
  // A figure, not an assertion: wall-clock time on a shared machine is no oracle. The bound itself is
  // checked on the virtual clock (test/cluster/singleton.test.ts); `until` above only fails a failover
  // that never comes.
  console.log(`\n    new holder ${next[0]} ${Date.now() - killedAt} ms after the kill (documented bound ${SUCCESSOR_WITHIN_MS} ms)`);
  await Promise.all(running);

  const perWindow = new Map<number, number>();
  for (const t of arrivals) if (t >= start && t < endAt) perWindow.set(Math.floor(t / WINDOW_MS), (perWindow.get(Math.floor(t / WINDOW_MS)) ?? 0) + 1);
  const counts = Array.from({ length: 5 }, (_, i) => perWindow.get(start / WINDOW_MS + i) ?? 0);
  for (const [i, n] of counts.entries()) assert.ok(n <= LIMIT, `window ${i} sent ${n} calls upstream; limit ${LIMIT} (all: ${counts})`);
  assert.ok(counts[0]! >= 0.8 * LIMIT, `before the failover the limit is used: ${counts}`);
  assert.ok(counts[4]! >= 0.8 * LIMIT, `after the fence the new holder leases again: ${counts}`);
  assert.ok(stats.limited > 0, 'demand was over the limit');
});

failover.run();
