// The baseline: a bare Node reverse proxy over an undici keep-alive pool, no features. Prints its port.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env.UPSTREAM!, { connections: 64 });
const server = createServer(async (req, res) => {
  try {
    const r = await pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' }, body: req.method === 'GET' || req.method === 'HEAD' ? null : req });
    res.writeHead(r.statusCode, r.headers as Record<string, string>);
    for await (const chunk of r.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502);
    res.end();
  }
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n');
});
process.on('SIGINT', () => process.exit(0));
