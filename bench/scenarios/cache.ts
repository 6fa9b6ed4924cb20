// Response cache: a Zipf-popular key set (1 000 keys, s = 1) against an upstream with 30 ms latency,
// through sluice (cache on, ttl 60 s), nginx (proxy_cache, 1 m) and Varnish (default TTL), one after
// another in the same run. Reports hit ratio (1 − upstream calls / requests), upstream calls and client
// p50/p99; then a hit's latency next to a pass-through's (sluice, cache off, 0 ms upstream).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { baseline, fmt, startSluice, startUpstream, table } from '../harness.ts';
import { freePort, quantile, startNginx, upstreamCalls } from './coalesce.ts';

const KEYS = 1_000;
const ZIPF_S = 1;
const CONNECTIONS = 32;
const UPSTREAM_LATENCY_MS = 30;

/** Inverse-CDF sampling of a Zipf(s) rank in [1, n], from a seeded generator (same keys for every proxy). */
function zipfSampler(n: number, s: number, seed: number): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) { sum += 1 / k ** s; cdf.push(sum); }
  let x = seed >>> 0;
  const rand = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return ((x >>> 0) / 2 ** 32) * sum; };
  return () => {
    const r = rand();
    let lo = 0; let hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! < r) lo = mid + 1; else hi = mid; }
    return lo + 1;
  };
}

async function run(name: string, port: number, prefix: string, upstreamPort: number, durationS: number): Promise<Record<string, string | number>> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  const next = zipfSampler(KEYS, ZIPF_S, 42);
  const lat: number[] = [];
  let errors = 0;
  const before = await upstreamCalls(upstreamPort);
  const until = performance.now() + durationS * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        const r = await pool.request({ method: 'GET', path: `${prefix}/doc/${next()}` });
        await r.body.dump();
        if (r.statusCode !== 200) errors++;
      } catch { errors++; }
      lat.push(performance.now() - t);
    }
  }));
  const calls = (await upstreamCalls(upstreamPort)) - before;
  await pool.close();
  return {
    proxy: name, requests: lat.length, 'upstream calls': calls, 'hit ratio': `${fmt(100 * (1 - calls / lat.length))} %`,
    'p50 ms': fmt(quantile(lat, 0.5), 2), 'p99 ms': fmt(quantile(lat, 0.99), 2), errors,
  };
}

async function startVarnish(upstreamPort: number): Promise<{ port: number; proc: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-varnish-'));
  chmodSync(dir, 0o755); // varnishd's compiler runs as an unprivileged user and writes here
  const port = await freePort();
  const proc = spawn('varnishd', ['-F', '-a', `127.0.0.1:${port}`, '-b', `127.0.0.1:${upstreamPort}`, '-n', dir, '-s', 'malloc,64m'], {
    stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
  });
  process.on('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (up) return { port, proc };
    await new Promise((r) => setTimeout(r, 50)); // polling a listener, not standing in for sync
  }
  throw new Error('varnishd did not start');
}

/** Sequential requests on one connection: a warm hit's latency, and a pass-through's to a 0 ms upstream. */
async function oneByOne(port: number, path: string, n: number): Promise<number[]> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await pool.request({ method: 'GET', path });
    await r.body.dump();
    lat.push(performance.now() - t);
  }
  await pool.close();
  return lat.slice(Math.floor(n / 10)); // the first tenth warms up
}

export async function cache(durationS: number): Promise<string> {
  const up = await startUpstream(UPSTREAM_LATENCY_MS);
  const fast = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const notes: string[] = [];
  const sluice = await startSluice({ targets: [
    { name: 'kb', prefix: '/kb', replicas: [upstream], cache: { enabled: true, upstreamHeaders: 'ignore', ttlMs: 60_000 } },
    { name: 'hit', prefix: '/hit', replicas: [`http://127.0.0.1:${fast.port}`], cache: { enabled: true, upstreamHeaders: 'ignore', ttlMs: 600_000 } },
    { name: 'nocache', prefix: '/nocache', replicas: [upstream] },
    { name: 'pass', prefix: '/pass', replicas: [`http://127.0.0.1:${fast.port}`], batch: { mode: 'none' } },
  ] });
  const hasNginx = baseline('nginx');
  if (!hasNginx.ok) notes.push(hasNginx.note);
  const nginx = hasNginx.ok ? await startNginx(up.port) : undefined;
  const hasVarnish = baseline('varnish', 'varnishd');
  if (!hasVarnish.ok) notes.push(hasVarnish.note);
  const varnish = hasVarnish.ok ? await startVarnish(up.port) : undefined;
  try {
    // A discarded warm-up through the cache-less target first: the first run on a fresh node (JIT,
    // connections) was several times slower than the next, whichever target it used.
    await run('warm-up', sluice.port, '/nocache', up.port, durationS);
    const rows = [await run('sluice (cache, ttl 60 s)', sluice.port, '/kb', up.port, durationS)];
    rows.push(await run('sluice (cache off: coalescing only)', sluice.port, '/nocache', up.port, durationS));
    if (nginx) rows.push(await run('nginx (proxy_cache 1 m)', nginx.port, '', up.port, durationS));
    if (varnish) rows.push(await run('Varnish (default TTL)', varnish.port, '', up.port, durationS));
    const hit = await oneByOne(sluice.port, '/hit/one', 2_000);
    const pass = await oneByOne(sluice.port, '/pass/one', 2_000);
    return [
      `${KEYS} keys, Zipf s = ${ZIPF_S}, ${CONNECTIONS} connections for ${durationS} s per proxy, upstream latency ${UPSTREAM_LATENCY_MS} ms; every cache starts cold (sluice's node is warmed up first through its cache-less target).`,
      '',
      table(rows),
      '',
      `A sluice hit: p50 ${fmt(quantile(hit, 0.5), 3)} ms, p99 ${fmt(quantile(hit, 0.99), 3)} ms; pass-through to a 0 ms upstream: p50 ${fmt(quantile(pass, 0.5), 3)} ms, p99 ${fmt(quantile(pass, 0.99), 3)} ms (one connection, sequential).`,
      ...notes.map((n) => `\n${n}`),
    ].join('\n');
  } finally {
    nginx?.proc.kill('SIGKILL');
    varnish?.proc.kill('SIGKILL');
  }
}
