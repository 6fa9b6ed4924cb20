// Coalescing: bursts of N identical concurrent GETs (N = 10, 100, 1000) against an upstream with
// 20 ms latency, through sluice (coalesce), nginx (proxy_cache + proxy_cache_lock) and the bare Node
// proxy, one after another in the same run. Reports upstream calls per burst (the upstream counts them
// at /__calls) and client latency p50/p99 over every request of every burst.
//
// The client keeps N raw keep-alive connections open and writes the N requests in one tight loop, so
// a burst really is concurrent and the client's own overhead stays small next to what it measures.
// Each burst asks a fresh URL, so no proxy can answer it from an earlier burst's cache.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { baseline, fmt, startProcess, startSluice, startUpstream, table } from '../harness.ts';

const SIZES = [10, 100, 1000];
const FLOOR = 'floor: Node server, 40 ms hold, no proxy';
const UPSTREAM_LATENCY_MS = 20;
const WARMUP_BURSTS = 3;
/** The sluice target's batch settings: the default maxWaitMs, and room for the largest burst. */
export const SLUICE_BATCH = { mode: 'coalesce', maxWaitMs: 20, maxBatchSize: 1024 } as const;

/** N keep-alive connections speaking just enough HTTP/1.1 to time whole responses. */
export class BurstClient {
  private readonly conns: Array<{ socket: Socket; buf: string; done?: ((status: number) => void) | undefined }> = [];
  /** Answers with a status outside 2xx since the client opened. */
  non2xx = 0;

  private constructor(private readonly port: number) {}

  static async open(port: number, n: number): Promise<BurstClient> {
    const c = new BurstClient(port);
    await Promise.all(Array.from({ length: n }, () => c.add()));
    return c;
  }

  private add(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.port, '127.0.0.1', () => resolve());
      socket.setNoDelay(true);
      const conn: (typeof this.conns)[number] = { socket, buf: '' };
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        conn.buf += d;
        if (conn.done && complete(conn.buf)) {
          const done = conn.done;
          const status = Number(conn.buf.slice(9, 12));
          conn.done = undefined;
          conn.buf = '';
          done(status);
        }
      });
      socket.on('error', reject);
      this.conns.push(conn);
    });
  }

  /** Sends one request per connection at once; resolves with each one's latency in ms. */
  burst(request: (i: number) => string, timeoutMs = 30_000): Promise<number[]> {
    const texts = this.conns.map((_, i) => request(i));
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`burst of ${this.conns.length}: not every answer came within ${timeoutMs} ms`)), timeoutMs);
    });
    const all = Promise.all(this.conns.map((conn, i) => new Promise<number>((resolve) => {
      const start = performance.now();
      conn.done = (status) => {
        if (status < 200 || status > 299) this.non2xx++;
        resolve(performance.now() - start);
      };
      conn.socket.write(texts[i]!);
    })));
    return Promise.race([all, stuck]).finally(() => clearTimeout(timer));
  }

  close(): void { for (const c of this.conns) c.socket.destroy(); }
}

/** One whole response is in: a Content-Length body, or a chunked body's last chunk. */
function complete(buf: string): boolean {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = buf.slice(0, end).toLowerCase();
  const len = /\r\ncontent-length: *(\d+)/.exec(head);
  if (len) return buf.length - end - 4 >= Number(len[1]);
  if (head.includes('transfer-encoding: chunked')) return buf.endsWith('0\r\n\r\n');
  return true;
}

export const getRequest = (path: string) => `GET ${path} HTTP/1.1\r\nhost: bench\r\n\r\n`;

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function upstreamCalls(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/__calls', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(Number(body)));
    }).on('error', reject);
  });
}

/** nginx in the foreground from a temp folder, as a caching proxy with the cache lock on. */
export async function startNginx(upstreamPort: number, o: { cacheValid?: string } = {}): Promise<{ port: number; proc: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-nginx-'));
  // Workers drop root for nginx's default user, which must be able to write the cache and temp files.
  chmodSync(dir, 0o755);
  for (const d of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'cache']) mkdirSync(join(dir, d), { mode: 0o777 });
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache keys_zone=bench:10m max_size=100m inactive=60s use_temp_path=off;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 100000;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_valid 200 ${o.cacheValid ?? '1m'};
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
    }
  }
}
`);
  const proc = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  process.on('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => { const s = connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (up) return { port, proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not start (see ${dir}/error.log)`);
}

export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? Number.NaN;
};

interface Row { proxy: string; n: number; callsPerBurst: number; maxCalls: number; p50: number; p99: number; errors: number }

async function measure(name: string, port: number, pathPrefix: string, upstreamPort: number, n: number, bursts: number): Promise<Row> {
  const client = await BurstClient.open(port, n);
  const latencies: number[] = [];
  const calls: number[] = [];
  for (let b = -WARMUP_BURSTS; b < bursts; b++) { // negative bursts warm the connections and the proxy's JIT up
    const path = `${pathPrefix}/item?burst=${name.replace(/\W/g, '')}-${n}-${b}`;
    const before = await upstreamCalls(upstreamPort);
    const lat = await client.burst(() => getRequest(path));
    const after = await upstreamCalls(upstreamPort);
    if (b >= 0) { latencies.push(...lat); calls.push(after - before); }
    await new Promise((r) => setTimeout(r, 50));
  }
  client.close();
  return {
    proxy: name, n, callsPerBurst: calls.reduce((a, c) => a + c, 0) / calls.length, maxCalls: Math.max(...calls),
    p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors: client.non2xx,
  };
}

export async function coalesce(): Promise<string> {
  const up = await startUpstream(UPSTREAM_LATENCY_MS);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const hasNginx = baseline('nginx');
  const nginx = hasNginx.ok ? await startNginx(up.port) : undefined;
  const sluice = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: SLUICE_BATCH }] });
  const hold = await startProcess(['bench/servers/hold-server.ts'], { HOLD_MS: String(UPSTREAM_LATENCY_MS + SLUICE_BATCH.maxWaitMs) });
  const rows: Row[] = [];
  try {
    for (const n of SIZES) {
      const bursts = n >= 1000 ? 10 : 20;
      rows.push(await measure('sluice (coalesce)', sluice.port, '/up', up.port, n, bursts));
      if (nginx) rows.push(await measure('nginx (proxy_cache_lock)', nginx.port, '', up.port, n, bursts));
      rows.push(await measure('bare Node proxy', bare.port, '', up.port, n, bursts));
      rows.push(await measure(FLOOR, hold.port, '', up.port, n, bursts));
    }
  } finally {
    nginx?.proc.kill('SIGQUIT'); bare.proc.kill(); sluice.proc.kill(); up.proc.kill(); hold.proc.kill();
  }
  const target = UPSTREAM_LATENCY_MS + SLUICE_BATCH.maxWaitMs + 25;
  const s1000 = rows.find((r) => r.n === 1000 && r.proxy.startsWith('sluice'))!;
  const n1000 = rows.find((r) => r.n === 1000 && r.proxy.startsWith('nginx'));
  const f1000 = rows.find((r) => r.n === 1000 && r.proxy === FLOOR)!;
  return `## Coalescing: bursts of N identical GETs, upstream latency ${UPSTREAM_LATENCY_MS} ms\n\n`
    + `sluice: maxWaitMs ${SLUICE_BATCH.maxWaitMs}, maxBatchSize ${SLUICE_BATCH.maxBatchSize}; nginx 1.22: 1 worker, proxy_cache + proxy_cache_lock on.\n\n`
    + table(rows.map((r) => ({
      N: r.n, proxy: r.proxy, 'upstream calls / burst': fmt(r.callsPerBurst, 2), 'max calls': r.maxCalls,
      'client p50 ms': fmt(r.p50), 'client p99 ms': fmt(r.p99), 'non-2xx': r.errors,
    })))
    + `\n\nN = 1000: sluice p99 ${fmt(s1000.p99)} ms${n1000 ? ` vs nginx ${fmt(n1000.p99)} ms` : ''}; target ≤ ${target} ms (upstream latency + maxWaitMs + 25 ms): `
    + `${s1000.p99 <= target && s1000.p99 < (n1000?.p99 ?? Infinity) ? 'met' : 'missed'}; calls per burst ${s1000.maxCalls <= 1 ? '1 at every burst' : `up to ${s1000.maxCalls}`}. `
    + `The floor (no proxy, ${UPSTREAM_LATENCY_MS + SLUICE_BATCH.maxWaitMs} ms hold) reaches p99 ${fmt(f1000.p99)} ms on this machine.\n`
    + (hasNginx.ok ? '' : `\n${hasNginx.note}\n`);
}
