// Every bench server listens on loopback and prints `{"port":N}` once ready: the harness waits for
// that line (bench/harness.ts startProcess). Keep-alive is long so load runs reuse connections.
import type { Server } from 'node:http';

export function listenAndReport(server: Server, port = 0): void {
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n');
  });
  // A SIGINT exit (not a kill) lets `node --cpu-prof` write its profile.
  process.on('SIGINT', () => process.exit(0));
}
