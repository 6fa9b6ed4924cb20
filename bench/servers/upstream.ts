// Benchmark upstream: answers a small JSON body after LATENCY_MS (default 0). Prints its port.
import { createServer } from 'node:http';
import { listenAndReport } from './listen.ts';

const latencyMs = Number(process.env.LATENCY_MS ?? 0);
const body = JSON.stringify({ ok: true, data: 'x'.repeat(256) });
let calls = 0;
const server = createServer((req, res) => {
  if (req.url === '/__calls') { res.end(String(calls)); return; }
  calls++;
  req.resume();
  const answer = () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); };
  if (latencyMs > 0) setTimeout(answer, latencyMs); else answer();
});
listenAndReport(server, Number(process.env.PORT ?? 0));
