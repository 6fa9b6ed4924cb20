// Fleet scope: three sluice nodes, each on its own server of a 3-server NATS cluster, each receiving
// the same steady stream of one hot GET (open loop, RATE per node, upstream latency 200 ms), with
// `batch.scope: node` and then `cluster`, in the same run. Reports fleet-wide upstream calls (counted
// at the upstream's /__calls) against one node's single-flight ideal (run time ÷ upstream latency),
// and client p50/p99. Two rows price the hop: sequential GETs of fresh (cold) keys, which are never
// forwarded, and sequential GETs of one warm key at a node that does not own it, which are.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { coalesceKey } from '../../src/batch/index.ts';
import { ownerOf, ownerRing } from '../../src/cluster/rendezvous.ts';
import { startNatsCluster } from '../../test/support/nats-servers.ts';
import { fmt, startProcess, startUpstream, table } from '../harness.ts';

const UPSTREAM_MS = 200;
/** Requests per second per node: rate × latency = 20 clients per call per node. */
const RATE = 100;
const IDS = ['f1', 'f2', 'f3'];
const SEQUENTIAL = 300;

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN; };

async function upstreamCalls(port: number): Promise<number> {
  const r = await request(`http://127.0.0.1:${port}/__calls`);
  return Number(await r.body.text());
}

async function startFleet(scope: 'node' | 'cluster', natsUrls: string[], upPort: number, run: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-fleet-'));
  const nodes = await Promise.all(IDS.map(async (id, i) => {
    const file = join(dir, `${id}.json`);
    writeFileSync(file, JSON.stringify({
      node: { id, port: 0 },
      cluster: { name: `bench${process.pid}r${run}`, heartbeatMs: 200, deadAfterMs: 2_000 },
      nats: { servers: [natsUrls[i]!] },
      targets: [{ name: 'api', prefix: '/api', replicas: [`http://127.0.0.1:${upPort}`], retry: { attempts: 1 }, batch: { mode: 'coalesce', scope } }],
    }));
    const { port, proc } = await startProcess(['src/cli/main.ts', 'start', '--config', file]);
    return { id, url: `http://127.0.0.1:${port}`, proc };
  }));
  for (const n of nodes) {
    for (;;) {
      const c = (await (await request(`${n.url}/_sluice/cluster`)).body.json()) as { nodes: string[] };
      if (c.nodes.length === IDS.length) break;
      await new Promise((r) => setTimeout(r, 50)); // waiting for membership to form
    }
  }
  return { nodes, stop: () => { for (const n of nodes) n.proc.kill('SIGKILL'); } };
}

/** Open loop: RATE requests per second to each node for durationS; latencies of every answer. */
async function steady(urls: string[], path: string, durationS: number, agent: Agent) {
  const latencies: number[] = [];
  let errors = 0;
  const kinds = new Map<string, number>();
  const failed = (kind: string) => { errors++; kinds.set(kind, (kinds.get(kind) ?? 0) + 1); };
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const total = Math.round(RATE * durationS);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait)); // pacing the load
    for (const url of urls) {
      const t0 = performance.now();
      pending.push(request(`${url}${path}`, { dispatcher: agent }).then(async (r) => {
        const body = await r.body.text();
        if (r.statusCode !== 200) failed(`${r.statusCode} ${body.slice(0, 80)}`);
        latencies.push(performance.now() - t0);
      }, (err: Error) => failed(err.message)));
    }
  }
  await Promise.all(pending);
  if (kinds.size > 0) console.error('errors:', Object.fromEntries(kinds));
  return { latencies, errors, runMs: performance.now() - start, requests: total * urls.length };
}

async function sequential(url: string, path: (i: number) => string, agent: Agent) {
  const latencies: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    const r = await request(`${url}${path(i)}`, { dispatcher: agent });
    await r.body.text();
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

export async function fleet(durationS: number): Promise<string> {
  const nats = await startNatsCluster(3);
  const slow = await startUpstream(UPSTREAM_MS);
  const fast = await startUpstream(0);
  // Idle sockets are dropped before the server's 5 s keep-alive would close them under a request.
  const agent = new Agent({ connections: 512, keepAliveTimeout: 1_000 });
  const rows: Array<Record<string, string | number>> = [];
  const hop: Array<Record<string, string | number>> = [];
  try {
    for (const [run, scope] of (['node', 'cluster'] as const).entries()) {
      const f = await startFleet(scope, nats.urls, slow.port, run);
      const path = `/api/hot-${scope}`;
      await steady(f.nodes.map((n) => n.url), `${path}-warmup`, 1, agent);
      const before = await upstreamCalls(slow.port);
      const r = await steady(f.nodes.map((n) => n.url), path, durationS, agent);
      const calls = (await upstreamCalls(slow.port)) - before;
      const ideal = r.runMs / UPSTREAM_MS;
      rows.push({
        scope, requests: r.requests, 'upstream calls': calls, 'ideal (1 node)': fmt(ideal, 0), 'calls / ideal': fmt(calls / ideal, 2),
        'p50 ms': fmt(pct(r.latencies, 0.5)), 'p99 ms': fmt(pct(r.latencies, 0.99)), errors: r.errors,
      });
      f.stop();
      // The hop's price, on a fast upstream: fresh keys (cold, never forwarded) and one warm key at a non-owner.
      const g = await startFleet(scope, nats.urls, fast.port, run + 10);
      const key = coalesceKey({ method: 'GET', path: '/warm', query: '', headers: {} }, { vary: [], public: false });
      const owner = ownerOf(ownerRing(IDS), key);
      const asker = g.nodes.find((n) => n.id !== owner)!;
      await sequential(asker.url, (i) => `/api/warmup-${i}`, agent);
      const cold = await sequential(asker.url, (i) => `/api/cold-${scope}-${i}`, agent);
      const warm = await sequential(asker.url, () => '/api/warm', agent);
      hop.push({ scope, 'cold keys p50 ms': fmt(pct(cold, 0.5), 2), 'cold p99 ms': fmt(pct(cold, 0.99), 2), 'warm key at a non-owner p50 ms': fmt(pct(warm, 0.5), 2), 'warm p99 ms': fmt(pct(warm, 0.99), 2) });
      g.stop();
    }
  } finally {
    slow.proc.kill();
    fast.proc.kill();
    await agent.close();
    await nats.close();
  }
  const [node, cluster] = rows;
  return `## Fleet scope (3 nodes, each on its own server of a 3-server NATS cluster; ${RATE} req/s per node on one hot GET for ${durationS} s, upstream ${UPSTREAM_MS} ms)\n\n`
    + table(rows)
    + `\n\nIdeal: one node's single-flight, run time ÷ upstream latency. Cluster scope: ${cluster!['upstream calls']} calls vs ${node!['upstream calls']} with node scope; the issue asks ≤ 1.3 × ideal.\n\n`
    + `### The hop's price (${SEQUENTIAL} sequential GETs at a node that does not own the key, upstream 0 ms)\n\n`
    + table(hop)
    + '\n\nCold keys are called where they arrive (no hop); a warm key at a non-owner is forwarded to its owner every time.\n';
}
