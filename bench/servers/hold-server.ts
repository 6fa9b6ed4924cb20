// The floor for the coalescing bench: no proxy at all, every request answered HOLD_MS after it
// arrives (the coalescing wait plus the upstream's latency). No Node gateway can beat its latency.
import { createServer } from 'node:http';
import { listenAndReport } from './listen.ts';

const holdMs = Number(process.env.HOLD_MS ?? 40);
const body = JSON.stringify({ ok: true, data: 'x'.repeat(256) });
const server = createServer((req, res) => {
  req.resume();
  setTimeout(() => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); }, holdMs);
});
listenAndReport(server);
