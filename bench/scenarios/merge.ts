// Merging: bursts of N distinct concurrent JSON POSTs to one route, through sluice in merge mode
// (json-array) and through sluice in pass-through mode (`none`), against the same batch-aware
// upstream with 20 ms latency per call. Reports upstream calls per burst and client p50/p99.
//
// The upstream is this file run as a child (MERGE_UPSTREAM=1): a JSON array body is a batch and is
// answered element by element, anything else is one request answered with one object.
import { createServer } from 'node:http';
import { fmt, startProcess, startSluice, table } from '../harness.ts';
import { BurstClient, quantile, upstreamCalls } from './coalesce.ts';

const SIZES = [10, 100];
const UPSTREAM_LATENCY_MS = 20;
const BURSTS = 20;
const WARMUP_BURSTS = 3;
export const MERGE_BATCH = { mode: 'merge', merge: 'json-array', maxWaitMs: 20, maxBatchSize: 128 } as const;

const postRequest = (path: string, body: string) =>
  `POST ${path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface Row { mode: string; n: number; callsPerBurst: number; p50: number; p99: number; errors: number }

async function measure(mode: string, port: number, upstreamPort: number, n: number): Promise<Row> {
  const client = await BurstClient.open(port, n);
  const latencies: number[] = [];
  let calls = 0;
  for (let b = -WARMUP_BURSTS; b < BURSTS; b++) {
    const before = await upstreamCalls(upstreamPort);
    const lat = await client.burst((i) => postRequest('/up/score', JSON.stringify({ burst: b, item: i, text: 'x'.repeat(64) })));
    const after = await upstreamCalls(upstreamPort);
    if (b >= 0) { latencies.push(...lat); calls += after - before; }
    await new Promise((r) => setTimeout(r, 50));
  }
  client.close();
  return { mode, n, callsPerBurst: calls / BURSTS, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors: client.non2xx };
}

export async function merge(): Promise<string> {
  const up = await startProcess(['bench/scenarios/merge.ts'], { MERGE_UPSTREAM: '1', LATENCY_MS: String(UPSTREAM_LATENCY_MS) });
  const replicas = [`http://127.0.0.1:${up.port}`];
  const merging = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas, batch: MERGE_BATCH }] });
  const passing = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas, batch: { mode: 'none' } }] });
  const rows: Row[] = [];
  try {
    for (const n of SIZES) {
      rows.push(await measure('sluice merge (json-array)', merging.port, up.port, n));
      rows.push(await measure('sluice pass-through (none)', passing.port, up.port, n));
    }
  } finally {
    merging.proc.kill(); passing.proc.kill(); up.proc.kill();
  }
  return `## Merging: bursts of N distinct JSON POSTs, upstream latency ${UPSTREAM_LATENCY_MS} ms per call\n\n`
    + `merge: json-array, maxWaitMs ${MERGE_BATCH.maxWaitMs}, maxBatchSize ${MERGE_BATCH.maxBatchSize}.\n\n`
    + table(rows.map((r) => ({
      N: r.n, mode: r.mode, 'upstream calls / burst': fmt(r.callsPerBurst, 2),
      'client p50 ms': fmt(r.p50), 'client p99 ms': fmt(r.p99), 'non-2xx': r.errors,
    }))) + '\n';
}

/** The batch-aware upstream, when this file runs as the bench's child process. */
function serveUpstream(): void {
  const latencyMs = Number(process.env.LATENCY_MS ?? 0);
  let calls = 0;
  const server = createServer((req, res) => {
    if (req.url === '/__calls') { res.end(String(calls)); return; }
    calls++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let parsed: unknown;
      try { parsed = JSON.parse(Buffer.concat(chunks).toString()); } catch { parsed = null; }
      const score = (item: unknown) => ({ item, score: 0.5 });
      const body = JSON.stringify(Array.isArray(parsed) ? parsed.map(score) : score(parsed));
      setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); }, latencyMs);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n'));
}

if (process.env.MERGE_UPSTREAM === '1') serveUpstream();
