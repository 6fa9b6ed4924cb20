// Starts real nats-server processes from the project's nats.conf on free loopback ports, for
// integration tests. Waits on the monitoring endpoint (never a fixed sleep) until each server is up
// and, for a cluster, until every route is established.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

const CONF = fileURLToPath(new URL('../../nats.conf', import.meta.url));
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

export interface NatsServer {
  name: string;
  port: number;
  httpPort: number;
  clusterPort: number;
  url: string;
  proc: ChildProcess | undefined;
}

export interface NatsCluster {
  servers: NatsServer[];
  urls: string[];
  stop(server: NatsServer): Promise<void>;
  /** Starts a stopped server again on the same ports. */
  restart(server: NatsServer): Promise<void>;
  close(): Promise<void>;
}

export async function startNatsCluster(size: number, opts: { token?: string } = {}): Promise<NatsCluster> {
  const servers: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const port = await freePort();
    servers.push({ name: `n${i + 1}`, port, httpPort: await freePort(), clusterPort: await freePort(), url: `nats://127.0.0.1:${port}`, proc: undefined });
  }
  const launch = (s: NatsServer) => {
    const routes = servers.filter((o) => o !== s).map((o) => `nats://127.0.0.1:${o.clusterPort}`).join(',');
    const args = ['-c', CONF, ...(size > 1 ? ['--routes', routes] : []), ...(opts.token ? ['--auth', opts.token] : [])];
    s.proc = spawn('nats-server', args, {
      stdio: 'ignore',
      env: { ...process.env, PATH, NATS_NAME: s.name, NATS_PORT: String(s.port), NATS_HTTP_PORT: String(s.httpPort), NATS_CLUSTER_PORT: String(s.clusterPort) },
    });
  };
  servers.forEach(launch);
  await Promise.all(servers.map((s) => waitReady(s, size - 1)));

  const stop = async (s: NatsServer) => {
    const p = s.proc;
    s.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGKILL'); });
  };
  return {
    servers,
    urls: servers.map((s) => s.url),
    stop,
    restart: async (s) => { launch(s); await waitReady(s, 0); },
    close: async () => { await Promise.all(servers.map(stop)); },
  };
}

async function waitReady(s: NatsServer, routes: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${s.httpPort}/routez`);
      const body = (await r.json()) as { num_routes?: number };
      if ((body.num_routes ?? 0) >= routes) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`nats-server ${s.name} not ready with ${routes} routes in ${timeoutMs} ms`);
    if (s.proc?.exitCode != null) throw new Error(`nats-server ${s.name} exited with ${s.proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 25)); // polling a readiness endpoint, not standing in for sync
  }
}
