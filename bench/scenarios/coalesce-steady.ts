// Coalescing under a steady stream (issue #10): identical GETs at a fixed rate for several seconds
// against an upstream answering in 200 ms, so rate × latency ≫ 1 and bursts never line up with a
// hold. Reports upstream calls against the single-flight ideal (run time ÷ upstream latency: one call
// in the air at any time) and client p50/p99 against calling the upstream directly, for sluice's
// defaults (join in flight, maxWaitMs 0), sluice with maxWaitMs 20, and nginx with proxy_cache_lock.
// Then a sequential row: one request at a time through a coalesce target with defaults and through
// mode `none`, alternating in the same run, for the p50 the coalescing path adds when nothing coalesces.
//
// Each steady row is warmed first (WARM_S of the same load, not counted): the first second through a
// fresh node pays for JIT compilation and the first upstream connection, and a slow call early makes
// the next call's batch bigger and its fan-out longer, so an unwarmed row's p99 reported a cold start,
// not the steady state. The load generator is one Node process: each row reports its own event-loop
// delay (p99) while it ran, so a tail that comes from the generator (or the machine) shows there and
// in the direct row, and "p99 over direct" compares every proxy with the upstream called directly in
// the same run.
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { baseline, fmt, startSluice, startUpstream, table } from '../harness.ts';
import { quantile, startNginx, upstreamCalls } from './coalesce.ts';

const UPSTREAM_LATENCY_MS = 200;
const RATE_PER_S = 350;
const SEQUENTIAL_ROUNDS = 10;
const SEQUENTIAL_PER_ROUND = 200;
const WARM_S = 1;

interface Steady { requests: number; calls: number; p50: number; p99: number; errors: number; runMs: number; generatorLagP99: number }

/** Open loop: request i leaves at start + i / rate whatever happened to the others; each one's latency is its own. */
async function steady(port: number, path: string, upstreamPort: number, durationS: number): Promise<Steady> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1_000 });
  const total = Math.round(RATE_PER_S * durationS);
  const latencies: number[] = [];
  let errors = 0;
  const before = await upstreamCalls(upstreamPort);
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const start = performance.now();
  const done: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    done.push(new Promise<void>((resolve) => {
      const sent = performance.now();
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) errors++;
          latencies.push(performance.now() - sent);
          resolve();
        });
      });
      req.on('error', () => { errors++; resolve(); });
      req.end();
    }));
  }
  await Promise.all(done);
  const runMs = performance.now() - start;
  lag.disable();
  const calls = (await upstreamCalls(upstreamPort)) - before;
  agent.destroy();
  return { requests: total, calls, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors, runMs, generatorLagP99: lag.percentile(99) / 1e6 };
}

/** The steady load for WARM_S, not counted, then the measured run. */
async function warmSteady(port: number, path: string, upstreamPort: number, durationS: number): Promise<Steady> {
  await steady(port, `${path}&warm=1`, upstreamPort, WARM_S);
  return steady(port, path, upstreamPort, durationS);
}

/** One request at a time on one keep-alive connection; latencies in ms. */
async function sequential(port: number, path: string, n: number, agent: Agent): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const sent = performance.now();
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject).end();
    });
    out.push(performance.now() - sent);
  }
  return out;
}

export async function coalesceSteady(durationS: number): Promise<string> {
  const up = await startUpstream(UPSTREAM_LATENCY_MS);
  const fast = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const fastUrl = `http://127.0.0.1:${fast.port}`;
  const sluice = await startSluice({
    targets: [
      { name: 'dflt', prefix: '/dflt', replicas: [upstream] },
      { name: 'hold', prefix: '/hold', replicas: [upstream], batch: { maxWaitMs: 20 } },
      { name: 'seqco', prefix: '/seqco', replicas: [fastUrl] },
      { name: 'seqnone', prefix: '/seqnone', replicas: [fastUrl], batch: { mode: 'none' } },
    ],
  });
  const hasNginx = baseline('nginx');
  // proxy_cache_lock only holds requests for a reply it may cache, so nginx caches here, for the
  // shortest time it can say (1 s): its calls are fewer than a single flight's, its clients no faster.
  const nginx = hasNginx.ok ? await startNginx(up.port, { cacheValid: '1s' }) : undefined;
  const rows: Array<Record<string, string | number>> = [];
  let dflt: Steady | undefined;
  let direct: Steady | undefined;
  let seq = { co: 0, none: 0 };
  try {
    const row = (name: string, r: Steady): void => {
      const ideal = r.runMs / UPSTREAM_LATENCY_MS;
      rows.push({
        proxy: name, requests: r.requests, 'upstream calls': r.calls, 'single-flight ideal': fmt(ideal, 0),
        'calls / ideal': fmt(r.calls / ideal, 2), 'client p50 ms': fmt(r.p50), 'client p99 ms': fmt(r.p99),
        'p99 over direct ms': direct ? fmt(r.p99 - direct.p99) : '—', 'generator lag p99 ms': fmt(r.generatorLagP99), errors: r.errors,
      });
    };
    direct = await warmSteady(up.port, '/item?steady=direct', up.port, durationS);
    row('upstream directly (no proxy)', direct);
    dflt = await warmSteady(sluice.port, '/dflt/item?steady=1', up.port, durationS);
    row('sluice defaults (join in flight, maxWaitMs 0)', dflt);
    row('sluice maxWaitMs 20', await warmSteady(sluice.port, '/hold/item?steady=1', up.port, durationS));
    if (nginx) row('nginx proxy_cache_lock (1 s cache)', await warmSteady(nginx.port, '/item?steady=nginx', up.port, durationS));

    // Sequential: alternate rounds so neither target always runs on a fresher machine.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    await sequential(sluice.port, '/seqco/warm', 300, agent);
    await sequential(sluice.port, '/seqnone/warm', 300, agent);
    const co: number[] = [];
    const none: number[] = [];
    for (let i = 0; i < SEQUENTIAL_ROUNDS; i++) {
      none.push(...await sequential(sluice.port, `/seqnone/item?r=${i}`, SEQUENTIAL_PER_ROUND, agent));
      co.push(...await sequential(sluice.port, `/seqco/item?r=${i}`, SEQUENTIAL_PER_ROUND, agent));
    }
    agent.destroy();
    seq = { co: quantile(co, 0.5), none: quantile(none, 0.5) };
  } finally {
    nginx?.proc.kill('SIGQUIT'); sluice.proc.kill(); up.proc.kill(); fast.proc.kill();
  }
  const ideal = dflt!.runMs / UPSTREAM_LATENCY_MS;
  const added = seq.co - seq.none;
  const checks = [
    `upstream calls ${dflt!.calls} ≤ 1.2 × ideal ${fmt(1.2 * ideal, 0)}: ${dflt!.calls <= 1.2 * ideal ? 'met' : 'missed'}`,
    `client p50 ${fmt(dflt!.p50)} ms ≤ ${UPSTREAM_LATENCY_MS} ms: ${dflt!.p50 <= UPSTREAM_LATENCY_MS ? 'met' : 'missed'}`,
    `client p99 ${fmt(dflt!.p99)} ms ≤ ${UPSTREAM_LATENCY_MS + 10} ms: ${dflt!.p99 <= UPSTREAM_LATENCY_MS + 10 ? 'met' : 'missed'}`
      + ` (the upstream called directly: p99 ${fmt(direct!.p99)} ms, so sluice's p99 is ${fmt(dflt!.p99 - direct!.p99)} ms over direct)`,
    `sequential added p50 ${fmt(added, 3)} ms ≤ 0.3 ms: ${added <= 0.3 ? 'met' : 'missed'}`,
  ];
  return `## Coalescing: a steady hot key, ${RATE_PER_S} identical GETs/s for ${durationS} s, upstream latency ${UPSTREAM_LATENCY_MS} ms\n\n`
    + `The single-flight ideal is one call in the air at a time: run time ÷ upstream latency. Open-loop load (each request leaves on schedule),`
    + ` each row after ${WARM_S} s of the same load not counted. "Generator lag" is the load generator's own event-loop delay while the row ran.\n\n`
    + table(rows)
    + `\n\n### Sequential GETs, nothing to coalesce (upstream answers at once)\n\n`
    + table([
      { target: 'mode none (pass-through)', requests: SEQUENTIAL_ROUNDS * SEQUENTIAL_PER_ROUND, 'p50 ms': fmt(seq.none, 3) },
      { target: 'coalesce, defaults', requests: SEQUENTIAL_ROUNDS * SEQUENTIAL_PER_ROUND, 'p50 ms': fmt(seq.co, 3) },
    ])
    + `\n\nAdded p50: ${fmt(added, 3)} ms.\n\nIssue #10 targets (sluice defaults): ${checks.join('; ')}.\n`
    + (hasNginx.ok ? '' : `\n${hasNginx.note}\n`);
}
