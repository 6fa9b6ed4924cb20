// No bind-close-reuse here: a port picked by binding and closing can be taken by anyone before the
// test binds it again. Servers in tests bind port 0 and pass on the port they got; a replica that
// must fail is a live listener that resets every connection, held for as long as the test needs it.
import { createServer, type Server } from 'node:net';

export interface DeadReplica {
  port: number;
  url: string;
  /** Connections it reset so far. */
  resets: number;
  close(): Promise<void>;
}

/**
 * A loopback port that accepts and immediately resets every connection (ECONNRESET): a replica
 * that cannot be reached, without the race of a closed port that someone else may take.
 */
export async function deadReplica(): Promise<DeadReplica> {
  const server: Server = createServer((socket) => {
    dead.resets++;
    socket.on('error', () => {});
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const dead: DeadReplica = {
    port,
    url: `http://127.0.0.1:${port}`,
    resets: 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
  return dead;
}
