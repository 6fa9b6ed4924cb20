// Starts real nats-server processes from the project's nats.conf for integration tests. Every port
// is -1 (the server binds a random free one) and the server reports what it got in a ports file
// (--ports_file_dir), so no port is picked by binding and closing. The first server starts alone;
// the others route to it and learn each other through route gossip. Readiness is polled on the
// ports file and the monitoring endpoint (never a fixed sleep), until every route is established.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** Starts a stopped server again on the same ports (its clients were given its URL). */
  restart(server: NatsServer): Promise<void>;
  close(): Promise<void>;
}

interface PortsFile { nats?: string[]; monitoring?: string[]; cluster?: string[] }

export async function startNatsCluster(size: number, opts: { token?: string; jetstream?: boolean } = {}): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-nats-'));
  const servers: NatsServer[] = [];
  const auth = opts.token ? ['--auth', opts.token] : [];
  // JetStream in a cluster needs a unique server name (NATS_NAME) and configured routes; each server
  // keeps its own store directory, which is what survives its restart.
  const jetstream = (name: string, routes: number[]) => (opts.jetstream && routes.length ? ['-js', '-sd', join(dir, `js-${name}`)] : []);

  const spawnServer = (name: string, ports: { port: number; httpPort: number; clusterPort: number }, routes: number[]) =>
    spawn('nats-server', ['-c', CONF, '--ports_file_dir', dir, ...(routes.length ? ['--routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(',')] : []), ...auth, ...jetstream(name, routes)], {
      stdio: 'ignore',
      env: { ...process.env, PATH, NATS_NAME: name, NATS_PORT: String(ports.port), NATS_HTTP_PORT: String(ports.httpPort), NATS_CLUSTER_PORT: String(ports.clusterPort) },
    });

  const launchNew = async (name: string, routes: number[]): Promise<NatsServer> => {
    const proc = spawnServer(name, { port: -1, httpPort: -1, clusterPort: -1 }, routes);
    const got = await readPorts(dir, name, proc);
    const s: NatsServer = { name, ...got, url: `nats://127.0.0.1:${got.port}`, proc };
    servers.push(s);
    return s;
  };

  try {
    const first = await launchNew('n1', []);
    for (let i = 2; i <= size; i++) await launchNew(`n${i}`, [first.clusterPort]);
    await Promise.all(servers.map((s) => waitRoutes(s, size - 1)));
    if (opts.jetstream && size > 1) {
      // The first server started before any route existed, so without JetStream: start it again
      // on the same ports, routed to the others, with it.
      const first = servers[0]!;
      await new Promise<void>((resolve) => { first.proc!.once('exit', () => resolve()); first.proc!.kill('SIGKILL'); });
      first.proc = spawnServer(first.name, first, servers.slice(1).map((o) => o.clusterPort));
      await Promise.all(servers.map((s) => waitRoutes(s, size - 1)));
    }
  } catch (err) {
    for (const s of servers) s.proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

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
    restart: async (s) => {
      // The same ports again, and a route to every other server, so it rejoins whichever are up.
      s.proc = spawnServer(s.name, s, servers.filter((o) => o !== s).map((o) => o.clusterPort));
      await waitRoutes(s, 0);
    },
    close: async () => {
      await Promise.all(servers.map(stop));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The ports a just-started server bound, from the file it writes into `dir` once it listens. */
async function readPorts(dir: string, name: string, proc: ChildProcess, timeoutMs = 10_000): Promise<{ port: number; httpPort: number; clusterPort: number }> {
  const deadline = Date.now() + timeoutMs;
  const portOf = (urls: string[] | undefined) => Number(new URL(urls?.[0] ?? 'x://h:0').port);
  for (;;) {
    if (proc.exitCode != null) throw new Error(`nats-server ${name} exited with ${proc.exitCode}`);
    const file = proc.pid && readdirSync(dir).find((f) => f.endsWith(`_${proc.pid}.ports`));
    if (file) {
      try {
        const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as PortsFile;
        const got = { port: portOf(p.nats), httpPort: portOf(p.monitoring), clusterPort: portOf(p.cluster) };
        if (got.port && got.httpPort && got.clusterPort) return got;
      } catch { /* written but not complete yet */ }
    }
    if (Date.now() > deadline) throw new Error(`nats-server ${name} reported no ports in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10)); // polling a readiness file, not standing in for sync
  }
}

async function waitRoutes(s: NatsServer, routes: number, timeoutMs = 10_000): Promise<void> {
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
