// The baseline: a bare Node reverse proxy over an undici keep-alive pool, no features. Prints its port.
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { listenAndReport } from './listen.ts';

const pool = new Pool(process.env.UPSTREAM!, { connections: 64 });
// RATELIMIT_HEADERS=1 adds the three RateLimit-* headers a limited sluice answer carries, to price
// the headers themselves apart from the limiter's decisions.
const extra: Record<string, string> = process.env.RATELIMIT_HEADERS
  ? { 'ratelimit-limit': '1000000000', 'ratelimit-remaining': '999912345', 'ratelimit-reset': '54' } : {};
const server = createServer(async (req, res) => {
  try {
    const r = await pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' }, body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
    res.writeHead(r.statusCode, process.env.RATELIMIT_HEADERS ? { ...(r.headers as Record<string, string>), ...extra } : r.headers as Record<string, string>);
    for await (const chunk of r.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502);
    res.end();
  }
});
listenAndReport(server);
