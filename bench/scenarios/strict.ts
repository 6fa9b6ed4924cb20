// Strict limits: admission decisions per second and decision latency of a node whose holder is
// another node, with prefetched leases (sluice's strict client) and without (one sync request to
// the holder per decision, what a strict singleton costs without prefetch — seed 004's design), over
// the in-process LocalBus and over NATS against a nats-server this scenario starts. Beside them, the
// Redis-backed RateLimiterRedis (rate-limiter-flexible) against a redis-server, as in the limiter
// scenario, so the ratio is measured in the same run. Columns match the limiter scenario's table.
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { realClock } from '../../src/clock.ts';
import type { Bus } from '../../src/bus/bus.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import { NatsBus } from '../../src/bus/nats-bus.ts';
import { parseConfig, parseTarget } from '../../src/config/load.ts';
import { limitSchema } from '../../src/config/schema.ts';
import { windowIdAt } from '../../src/limit/windows.ts';
import { Membership } from '../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../src/actors/singleton.ts';
import { StrictServer } from '../../src/actors/limits/strict-server.ts';
import { createStrictEnforcer, StrictEnforcer } from '../../src/actors/limits/strict-enforcer.ts';
import { localRatio } from '../../src/actors/limits/strict-metrics.ts';
import { syncSubject } from '../../src/actors/limits/strict-protocol.ts';
import { ConfiguredLimits } from '../../src/actors/limits/target-limits.ts';
import { LimitGossip } from '../../src/actors/limits/gossip.ts';
import { NodeMetrics } from '../../src/metrics.ts';
import { baseline, fmt, startRedis, table } from '../harness.ts';
import { startNatsCluster } from '../../test/support/nats-servers.ts';

/** Never reached: every decision admits, so all rows do the same work per call. */
const HUGE = 1_000_000_000;
const WINDOW_MS = 60_000;
const CLUSTER = { name: 'benchstrict', heartbeatMs: 100, deadAfterMs: 1_000 };

interface Row { name: string; concurrency: number; perS: number; p50Us: number; p99Us: number; local?: number }

/**
 * Closed loop: `concurrency` callers each await one decision after another for `ms`. Every 256
 * decisions a caller yields to the event loop, as requests arriving over HTTP would: decisions that
 * answer synchronously would otherwise starve the timers that keep the singleton lease and heartbeats.
 */
async function measure(name: string, decide: (worker: number) => unknown, ms: number, concurrency: number): Promise<Row> {
  // Latencies in a typed array, every 4th decision: sorting millions of boxed numbers would stall the
  // process for a second, long enough for the singleton lease to lapse between rows.
  const lat = new Float64Array(2_000_000);
  let kept = 0;
  let count = 0;
  const startedAt = performance.now();
  const end = startedAt + ms;
  const worker = async (_: unknown, i: number) => {
    for (let n = 1; performance.now() < end; n++) {
      const t = performance.now();
      await decide(i);
      if (++count % 4 === 0 && kept < lat.length) lat[kept++] = performance.now() - t;
      if (n % 256 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - startedAt) / 1000;
  const sorted = lat.subarray(0, kept).sort();
  const q = (p: number) => (sorted[Math.min(kept - 1, Math.floor(p * kept))] ?? 0) * 1000;
  return { name, concurrency, perS: count / elapsedS, p50Us: q(0.5), p99Us: q(0.99) };
}

/** Two nodes: `a` holds the singleton and runs the strict server, `b` is the client measured. */
async function pair(buses: [Bus, Bus]) {
  const parts = (['a', 'b'] as const).map((id, i) => {
    const bus = buses[i]!;
    const membership = new Membership(bus, realClock, { nodeId: id, cluster: CLUSTER.name, ...CLUSTER });
    const singleton = new Singleton(bus, realClock, membership, { nodeId: id, cluster: CLUSTER.name, ...singletonTimings(CLUSTER) });
    const server = new StrictServer(bus, realClock, singleton, { cluster: CLUSTER.name });
    membership.start();
    singleton.start();
    server.start();
    return { id, bus, membership, singleton, server };
  });
  const client = parts[1]!;
  const deadline = Date.now() + 10_000;
  while (client.singleton.holder()?.id !== 'a') {
    if (Date.now() > deadline) throw new Error('no singleton holder elected');
    await new Promise((r) => setTimeout(r, 20)); // polling for the election, not standing in for an event
  }
  return {
    client,
    close: async () => {
      for (const p of parts) { p.server.stop(); p.singleton.stop(); p.membership.stop(); }
      for (const p of parts) await p.bus.close();
    },
  };
}

async function strictRows(label: string, buses: [Bus, Bus], ms: number): Promise<Row[]> {
  const rows: Row[] = [];
  const { client, close } = await pair(buses);
  const limit = limitSchema.parse({ name: 'rps', limit: HUGE, windowMs: WINDOW_MS, mode: 'strict' });
  const deps = { nodeId: 'b', clusterName: CLUSTER.name, clock: realClock, bus: client.bus, singleton: client.singleton };

  for (const c of [1, 50]) {
    const e = new StrictEnforcer(limit, `on${c}`, deps);
    const row = await measure(`sluice strict, prefetch on, ${label}`, () => e.admit('target', 1, Date.now()), ms, c);
    rows.push({ ...row, local: localRatio(e.stats) });
    await e.close();
  }

  // The whole request-side path: TargetLimits with the strict limit (awaited, headers built).
  const config = parseConfig({ node: { id: 'b' } });
  const gossip = new LimitGossip(client.bus, realClock, { nodeId: 'b', cluster: CLUSTER.name, syncMs: 100, membership: client.membership, catchUpMs: 0 });
  const target = parseTarget({ name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:1'], limits: [{ name: 'rps', limit: HUGE, windowMs: WINDOW_MS, mode: 'strict' }] });
  const metrics = new NodeMetrics();
  const limits = new ConfiguredLimits(target, {
    ...deps, metrics, random: Math.random, membership: client.membership, cluster: config.cluster, limitGossip: gossip,
  }, { gossip, strict: createStrictEnforcer });
  const tl = await measure(`sluice strict, prefetch on, TargetLimits, ${label}`, async () => (await limits.admitUpstreamCall({ requests: 1, tokens: 0 })).settle({}), ms, 1);
  const state = (limits.describe() as Array<{ state: { localAdmissionRatio: number } }>)[0]!.state;
  rows.push({ ...tl, local: state.localAdmissionRatio });
  await limits.close();

  // Prefetch off: every decision is one sync request for one permit, answered by the holder. Each
  // caller has its own key, so it knows its running total (the holder would re-deliver, not grant, otherwise).
  for (const c of [1, 50]) {
    const received = new Array<number>(c).fill(0);
    const subject = syncSubject(CLUSTER.name, 'a');
    const row = await measure(`sluice strict, prefetch off (a round trip per decision), ${label}`, async (i) => {
      const windowId = windowIdAt(Date.now(), WINDOW_MS);
      const reply = await client.bus.request(subject, {
        node: 'b', items: [{ key: `off${c}/rps/caller${i}`, limit: HUGE, windowMs: WINDOW_MS, windowId, received: received[i]!, returned: 0, want: 1 }],
      }, 1_000) as { ok: boolean; items?: Array<{ received: number }> };
      received[i] = reply.items?.[0]?.received ?? received[i]!;
    }, ms, c);
    rows.push({ ...row, local: 0 });
  }
  await close();
  return rows;
}

export async function strict(durationS: number): Promise<string> {
  // The real clock's timers are unref'd (they must not keep a draining node alive): while a decision
  // waits on the in-process bus, nothing else would keep this process running.
  const keepAlive = setInterval(() => {}, 1_000);
  try {
    return await run(durationS);
  } finally {
    clearInterval(keepAlive);
  }
}

async function run(durationS: number): Promise<string> {
  const ms = Math.min(durationS, 3) * 1000;
  const rows: Row[] = [];

  const network = new LocalNetwork(realClock);
  rows.push(...await strictRows('LocalBus', [network.connect('a'), network.connect('b')], ms));

  const hasNats = baseline('nats-server');
  if (hasNats.ok) {
    const nats = await startNatsCluster(1);
    try {
      const buses: [Bus, Bus] = [await NatsBus.connect({ servers: nats.urls, name: 'bench-a' }), await NatsBus.connect({ servers: nats.urls, name: 'bench-b' })];
      rows.push(...await strictRows('NatsBus', buses, ms));
    } finally {
      await nats.close();
    }
  }

  const hasRedis = baseline('redis-server');
  if (hasRedis.ok) {
    const redis = await startRedis();
    try {
      const client = new Redis({ port: redis.port, host: '127.0.0.1' });
      const rlf = new RateLimiterRedis({ storeClient: client, points: HUGE, duration: 60, keyPrefix: `strictbench${process.pid}` });
      for (const c of [1, 50]) rows.push(await measure('rate-limiter-flexible RateLimiterRedis', () => rlf.consume('target', 1), ms, c));
      client.disconnect();
    } finally {
      await redis.stop();
    }
  }

  const best = (f: (r: Row) => boolean) => Math.max(...rows.filter(f).map((r) => r.perS));
  const head = `## Strict limiter decisions (${ms / 1000} s each, holder on another node, limit never reached)\n\n` + table(rows.map((r) => ({
    limiter: r.name, 'in flight': r.concurrency, 'decisions/s': fmt(r.perS, 0), 'p50 µs': fmt(r.p50Us, 1), 'p99 µs': fmt(r.p99Us, 1),
    'local decisions': r.local === undefined ? '—' : `${fmt(r.local * 100, 2)}%`,
  })));
  const skipped = [hasNats, hasRedis].flatMap((b) => (b.ok ? [] : [b.note]));
  if (skipped.length) return `${head}\n\n${skipped.join('\n\n')}\n`;
  const redisBest = best((r) => r.name.startsWith('rate-limiter-flexible'));
  const onNats = best((r) => r.name.includes('prefetch on') && r.name.endsWith('NatsBus') && !r.name.includes('TargetLimits'));
  const offNats = best((r) => r.name.includes('prefetch off') && r.name.endsWith('NatsBus'));
  const tlNats = rows.find((r) => r.name.includes('TargetLimits, NatsBus'))!;
  return `${head}\n\nOver NATS, prefetch on / off: **${fmt(onNats / offNats, 1)}×** decisions/s; prefetch on / best RateLimiterRedis: ` +
    `**${fmt(onNats / redisBest, 1)}×** (TargetLimits path: ${fmt(tlNats.perS / redisBest, 1)}×, p99 ${fmt(tlNats.p99Us, 1)} µs, ` +
    `${fmt((tlNats.local ?? 0) * 100, 2)}% of decisions local).\n`;
}
