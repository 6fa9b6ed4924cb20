// Shared bench plumbing: child processes that print `{"port":N}` when ready, autocannon runs, tables.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createServer as createNetServer } from 'node:net';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const children: ChildProcess[] = [];

/** Starts a TypeScript file (via tsx) or the sluice node, resolving with the port it prints. */
export function startProcess(args: string[], env: Record<string, string> = {}): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const collect = (d: Buffer) => {
      out += d;
      const m = /"port":(\d+)/.exec(out) ?? /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (!m) return;
      // From here on only drained: a node writing access lines would otherwise grow `out` by megabytes a second.
      proc.stdout!.off('data', collect).resume();
      resolve({ port: Number(m[1]), proc });
    };
    proc.stdout!.on('data', collect);
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
  });
}

export function startUpstream(latencyMs = 0) {
  return startProcess(['bench/servers/upstream.ts'], { LATENCY_MS: String(latencyMs) });
}

/** Starts a sluice node on a free port with the given targets; config goes through a temp file. */
export function startSluice(config: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const file = join(dir, 'config.json');
  // No access lines, as nginx's baseline runs with access_log off.
  writeFileSync(file, JSON.stringify({ node: { port: 0, id: 'bench' }, log: { access: false }, ...config }));
  return startProcess(['src/cli/main.ts', 'start', '--config', file]);
}

export function stopAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', stopAll);

export interface LoadResult { rps: number; p50: number; p99: number; errors: number; non2xx: number; requests: number }

/**
 * CPU time (user + system, ms) a process has used, from /proc. CPU per request is steadier than
 * requests/s on a small shared machine, where the load generator competes for the same cores.
 */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Runs a load and reports, besides latency and throughput, the server's CPU µs per request. */
export async function loadWithCpu(url: string, pid: number, o: Parameters<typeof load>[1] = {}): Promise<LoadResult & { cpuUsPerReq: number }> {
  const before = cpuMs(pid);
  const r = await load(url, o);
  return { ...r, cpuUsPerReq: ((cpuMs(pid) - before) * 1000) / Math.max(1, r.requests) };
}

export async function load(url: string, o: { connections?: number; durationS?: number; method?: string; body?: string } = {}): Promise<LoadResult> {
  const r = await autocannon({
    url, connections: o.connections ?? 50, duration: o.durationS ?? 5, pipelining: 1,
    ...(o.method ? { method: o.method as 'POST' } : {}), ...(o.body ? { body: o.body } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(cols), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);

export type Measured = LoadResult & { cpuUsPerReq: number };

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Measures two servers in alternating rounds after a warm-up, so neither always runs on a fresher
 * machine: on a small shared box one run swings ±30%, the medians of several far less.
 */
export async function alternate(a: { url: string; pid: number }, b: { url: string; pid: number }, rounds: number, durationS: number): Promise<[Measured[], Measured[]]> {
  const [ra, rb] = await alternateAll([a, b], rounds, durationS);
  return [ra!, rb!];
}

/** `alternate` for any number of servers: each round measures every server once, in the same order. */
export async function alternateAll(servers: Array<{ url: string; pid: number }>, rounds: number, durationS: number): Promise<Measured[][]> {
  for (const s of servers) await load(s.url, { durationS: 2 });
  const results: Measured[][] = servers.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (const [k, s] of servers.entries()) results[k]!.push(await loadWithCpu(s.url, s.pid, { durationS }));
  }
  return results;
}

/** One table row of medians over rounds. */
export function medianRow(label: string, name: string, m: Measured[]): Record<string, string | number> {
  return {
    [label]: name, 'req/s': fmt(median(m.map((x) => x.rps)), 0), 'p50 ms': median(m.map((x) => x.p50)), 'p99 ms': median(m.map((x) => x.p99)),
    'CPU µs/req': fmt(median(m.map((x) => x.cpuUsPerReq)), 0), errors: m.reduce((n, x) => n + x.errors + x.non2xx, 0),
  };
}

/**
 * A baseline program from Debian (nginx, redis-server, varnishd…): installed through
 * scripts/ensure-debian.sh when missing (apt-get, as root). When it still is not there, returns a
 * line for the scenario's section saying what was skipped and how to install it, and prints it.
 */
export function baseline(pkg: string, bin = pkg): { ok: true } | { ok: false; note: string } {
  const r = spawnSync('bash', [join(ROOT, 'scripts/ensure-debian.sh'), '--why', 'the benchmarks', `${pkg}:${bin}`], { stdio: ['ignore', 'inherit', 'pipe'] });
  if (r.status === 0) return { ok: true };
  const note = `_${bin} baseline skipped: not installed. Install it with \`sudo apt-get install ${pkg}\` and re-run._`;
  console.log(note);
  return { ok: false, note };
}

/** A port that was free a moment ago: only for redis-server, which cannot bind port 0 and report it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** A throwaway redis-server in the foreground on a free port, for the Redis-backed peers. */
export async function startRedis(): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
  children.push(proc);
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {}); // refused until the server listens
  const deadline = Date.now() + 10_000;
  for (;;) {
    try { await probe.connect(); await probe.ping(); break; } catch {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error('redis-server did not start');
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50)); // polling readiness
    }
  }
  probe.disconnect();
  return { port, stop: () => new Promise<void>((resolve) => { if (proc.exitCode !== null) return resolve(); proc.once('exit', () => resolve()); proc.kill('SIGTERM'); }) };
}
