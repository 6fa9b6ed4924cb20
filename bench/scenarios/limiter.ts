// Limiter: admission decisions per second and decision latency of sluice's approximate limiter in
// process, beside two Redis-backed peers (rate-limiter-flexible's RateLimiterRedis and bottleneck
// with Redis clustering) against a Debian redis-server this scenario starts and stops; then HTTP
// requests/s of a node with a limit configured vs the same node without.
import { performance } from 'node:perf_hooks';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { realClock } from '../../src/clock.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import { parseConfig, parseTarget } from '../../src/config/load.ts';
import { asNodeId } from '../../src/crdt/node-id.ts';
import { ApproximateLimiter } from '../../src/limit/approximate-limiter.ts';
import { Membership } from '../../src/actors/membership.ts';
import { LimitGossip } from '../../src/actors/limits/gossip.ts';
import { ConfiguredLimits } from '../../src/actors/limits/target-limits.ts';
import { NodeMetrics } from '../../src/metrics.ts';
import { alternate, baseline, fmt, median, medianRow, startProcess, startRedis, startSluice, startUpstream, table } from '../harness.ts';

/** Never reached: every decision is an admit, so all three do the same work per call. */
const HUGE = 1_000_000_000;

interface DecisionResult { name: string; concurrency: number; perS: number; p50Us: number; p99Us: number }

/** Closed loop: `concurrency` callers each await one decision after another for `ms`. */
async function measure(name: string, decide: () => unknown, ms: number, concurrency: number): Promise<DecisionResult> {
  const lat: number[] = [];
  const startedAt = performance.now();
  const end = startedAt + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await decide();
      lat.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - startedAt) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => (lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) * 1000;
  return { name, concurrency, perS: lat.length / elapsedS, p50Us: q(0.5), p99Us: q(0.99) };
}

/** The synchronous core, timed per call without the await. */
function measureSync(name: string, decide: () => unknown, ms: number): DecisionResult {
  const lat: number[] = [];
  const startedAt = performance.now();
  const end = startedAt + ms;
  while (performance.now() < end) {
    const t = performance.now();
    decide();
    lat.push(performance.now() - t);
  }
  const elapsedS = (performance.now() - startedAt) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => (lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) * 1000;
  return { name, concurrency: 1, perS: lat.length / elapsedS, p50Us: q(0.5), p99Us: q(0.99) };
}

/** The approximate limiter as a request meets it: TargetLimits over the node's gossip actor. */
function sluiceLimits() {
  const config = parseConfig({ node: { id: 'bench' } });
  const bus = new LocalNetwork(realClock).connect('bench');
  const membership = new Membership(bus, realClock, { nodeId: 'bench', cluster: 'bench', heartbeatMs: 1_000, deadAfterMs: 5_000 });
  const gossip = new LimitGossip(bus, realClock, { nodeId: 'bench', cluster: 'bench', syncMs: config.cluster.syncMs, membership, catchUpMs: 0 });
  gossip.start();
  const target = parseTarget({ name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:1'], limits: [{ name: 'rpm', limit: HUGE, windowMs: 60_000 }] });
  const limits = new ConfiguredLimits(target, {
    nodeId: 'bench', clusterName: 'bench', clock: realClock, bus, metrics: new NodeMetrics(), random: Math.random, membership, cluster: config.cluster, limitGossip: gossip,
  }, { gossip });
  return { limits, close: async () => { await limits.close(); gossip.stop(); await bus.close(); } };
}

async function decisions(seconds: number): Promise<string> {
  const ms = seconds * 1000;
  const rows: DecisionResult[] = [];

  const core = new ApproximateLimiter({ nodeId: asNodeId('bench'), name: 'rpm', limit: HUGE, windowMs: 60_000, staleMs: 500 });
  rows.push(measureSync('sluice approximate, core (ApproximateLimiter.admit)', () => core.admit('target', 1, Date.now()), ms));
  const s = sluiceLimits();
  rows.push(await measure('sluice approximate, TargetLimits (awaited)', async () => (await s.limits.admitUpstreamCall({ requests: 1, tokens: 0 })).settle({}), ms, 1));
  await s.close();

  const hasRedis = baseline('redis-server');
  if (hasRedis.ok) await redisRows(rows, ms);

  const best = (prefix: string) => Math.max(...rows.filter((r) => r.name.startsWith(prefix)).map((r) => r.perS));
  const ours = rows[1]!.perS;
  const table_ = `## Limiter decisions (${seconds} s each, limit never reached)\n\n` + table(rows.map((r) => ({
    limiter: r.name, 'in flight': r.concurrency, 'decisions/s': fmt(r.perS, 0), 'p50 µs': fmt(r.p50Us, 1), 'p99 µs': fmt(r.p99Us, 1),
  })));
  if (!hasRedis.ok) return table_ + `\n\n${hasRedis.note}\n`;
  return table_ + `\n\nsluice TargetLimits / best RateLimiterRedis: **${fmt(ours / best('rate-limiter-flexible'), 1)}×** decisions/s; ` +
    `/ best bottleneck: **${fmt(ours / best('bottleneck'), 1)}×**. ` +
    `p99 ${fmt(rows[1]!.p99Us, 1)} µs vs ${fmt(rows.find((r) => r.name.startsWith('rate-limiter') && r.concurrency === 1)!.p99Us, 1)} µs (RateLimiterRedis, one in flight).\n`;
}

/** The Redis-backed peers, against a redis-server started for them. */
async function redisRows(rows: DecisionResult[], ms: number): Promise<void> {
  const redis = await startRedis();
  try {
    const client = new Redis({ port: redis.port, host: '127.0.0.1' });
    const rlf = new RateLimiterRedis({ storeClient: client, points: HUGE, duration: 60, keyPrefix: `bench${process.pid}` });
    for (const c of [1, 50]) rows.push(await measure('rate-limiter-flexible RateLimiterRedis', () => rlf.consume('target', 1), ms, c));
    client.disconnect();

    const bottleneck = new Bottleneck({
      id: `bench${process.pid}`, datastore: 'ioredis', clearDatastore: true, Redis,
      clientOptions: { host: '127.0.0.1', port: redis.port }, reservoir: HUGE, maxConcurrent: null, minTime: 0,
    } as Bottleneck.ConstructorOptions);
    await bottleneck.ready();
    for (const c of [1, 50]) rows.push(await measure('bottleneck (Redis clustering, ioredis)', () => bottleneck.schedule(() => Promise.resolve()), ms, c));
    await bottleneck.disconnect(true);
  } finally {
    await redis.stop();
  }
}

async function http(seconds: number): Promise<string> {
  const up = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const plain = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' } }] });
  const limited = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' },
    limits: [{ name: 'rpm', limit: HUGE, windowMs: 60_000 }] }] });
  const [p, l] = await alternate(
    { url: `http://127.0.0.1:${plain.port}/up/x`, pid: plain.proc.pid! },
    { url: `http://127.0.0.1:${limited.port}/up/x`, pid: limited.proc.pid! }, 3, seconds);
  // The same three RateLimit-* headers on a bare Node proxy: what the headers cost by themselves.
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const bareHdr = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream, RATELIMIT_HEADERS: '1' });
  const [b, bh] = await alternate(
    { url: `http://127.0.0.1:${bare.port}/x`, pid: bare.proc.pid! },
    { url: `http://127.0.0.1:${bareHdr.port}/x`, pid: bareHdr.proc.pid! }, 3, seconds);
  plain.proc.kill(); limited.proc.kill(); bare.proc.kill(); bareHdr.proc.kill(); up.proc.kill();
  const ratio = (x: typeof p, y: typeof p) => median(y.map((v) => v.rps)) / median(x.map((v) => v.rps));
  const cpu = (x: typeof p, y: typeof p) => median(y.map((v) => v.cpuUsPerReq)) / median(x.map((v) => v.cpuUsPerReq));
  return `## A configured limit over HTTP (GET, mode none, 50 connections, 3 alternating rounds of ${seconds} s; medians)\n\n` + table([
    medianRow('node', 'sluice, no limit', p), medianRow('node', 'sluice, approximate per-target limit', l),
    medianRow('node', 'bare Node proxy', b), medianRow('node', 'bare Node proxy + the 3 RateLimit-* headers', bh),
  ]) + `\n\nwith limit / without: **${fmt(ratio(p, l), 3)}×** requests/s, CPU per request ${fmt(cpu(p, l), 3)}×. ` +
    `The three answer headers alone, on a bare proxy: ${fmt(ratio(b, bh), 3)}× requests/s, CPU ${fmt(cpu(b, bh), 3)}×.\n`;
}

export async function limiter(durationS: number): Promise<string> {
  const decisionS = Math.min(durationS, 3);
  return (await decisions(decisionS)) + '\n' + (await http(durationS));
}
