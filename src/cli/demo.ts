// `sluice start --demo`: small upstreams on every loopback replica of the config, so the README's
// first command shows a proxied answer with nothing else running. They answer JSON after a short
// delay (so coalescing is visible), merge batches (`POST …/batch`: array in, array out) and stream SSE.
import { createServer, type Server } from 'node:http';
import type { Config } from '../config/schema.ts';

const DEMO_LATENCY_MS = 20;

export async function startDemoUpstreams(config: Config): Promise<{ close(): Promise<void> }> {
  const ports = new Set<number>();
  for (const t of config.targets) {
    for (const r of t.replicas) {
      const u = new URL(r);
      if (u.hostname === '127.0.0.1' || u.hostname === 'localhost') ports.add(Number(u.port || 80));
    }
  }
  const servers = await Promise.all([...ports].map(demoUpstream));
  return { close: async () => { await Promise.all(servers.map((s) => new Promise((r) => s.close(r)))); } };
}

let calls = 0;

function demoUpstream(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => setTimeout(() => {
      calls++;
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url?.endsWith('/stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 1; i <= 3; i++) res.write(`data: {"chunk":${i}}\n\n`);
        res.end('data: {"usage":{"total_tokens":42}}\n\ndata: [DONE]\n\n');
        return;
      }
      if (req.method === 'POST' && req.url?.includes('/batch')) {
        let items: unknown[] = [];
        try { items = JSON.parse(body); } catch { /* answered as an empty batch */ }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(Array.isArray(items) ? items.map((item) => ({ echo: item, batchOf: items.length })) : []));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ replica: port, upstreamCall: calls, method: req.method, url: req.url, ...(body ? { body } : {}), usage: { total_tokens: 10 } }) + '\n');
    }, DEMO_LATENCY_MS));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
