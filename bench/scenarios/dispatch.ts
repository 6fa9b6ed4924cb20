// Dispatch: least-loaded + power-of-two-choices against round robin, over six replicas of uneven
// latency. Round robin gives the slow replica its full sixth of the calls; least-loaded sends it only
// what its share of in-flight calls earns, so the tail (p99) follows the fast replicas.
// Both proxies run the same Dispatcher (bench/servers/dispatch-proxy.ts) but the choice of replica;
// a third row is the full sluice gateway (mode none), which dispatches least-loaded + p2c.
import { request } from 'undici';
import { fmt, load, startProcess, startSluice, startUpstream, table } from '../harness.ts';

/** Replica latencies, ms: four fast, one middling, one degraded (100× slower). Six replicas, so p2c is in use (> 4). */
const LATENCIES_MS = [5, 5, 5, 5, 20, 500];

async function calls(ports: number[]): Promise<number[]> {
  return Promise.all(ports.map(async (p) => Number(await (await request(`http://127.0.0.1:${p}/__calls`)).body.text())));
}

export async function dispatch(durationS: number): Promise<string> {
  const ups = await Promise.all(LATENCIES_MS.map((ms) => startUpstream(ms)));
  const ports = ups.map((u) => u.port);
  const replicas = ports.map((p) => `http://127.0.0.1:${p}`);
  const proxy = (select: string) => startProcess(['bench/servers/dispatch-proxy.ts'], { REPLICAS: replicas.join(','), SELECT: select });
  const variants = [
    { name: 'round robin (Dispatcher)', ...(await proxy('round-robin')), path: '/x' },
    { name: 'least-loaded + p2c (Dispatcher)', ...(await proxy('least-loaded')), path: '/x' },
    { name: 'sluice gateway (least-loaded + p2c)', ...(await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas, batch: { mode: 'none' } }] })), path: '/up/x' },
  ];

  const rows: Array<Record<string, string | number>> = [];
  const p99: number[] = [];
  for (const v of variants) {
    const url = `http://127.0.0.1:${v.port}${v.path}`;
    await load(url, { durationS: 1 }); // warm the pools
    const before = await calls(ports);
    const r = await load(url, { durationS });
    const after = await calls(ports);
    const made = after.map((n, i) => n - before[i]!);
    const total = made.reduce((a, b) => a + b, 0);
    const share = (i: number) => fmt((100 * made[i]!) / Math.max(1, total), 1) + ' %';
    p99.push(r.p99);
    rows.push({
      dispatch: v.name, 'req/s': fmt(r.rps, 0), 'p50 ms': r.p50, 'p99 ms': r.p99,
      'to 500 ms replica': share(LATENCIES_MS.length - 1), 'to 20 ms replica': share(LATENCIES_MS.length - 2), errors: r.errors + r.non2xx,
    });
    v.proc.kill();
  }
  for (const u of ups) u.proc.kill();
  return `## Dispatch (GET, 50 connections, ${durationS} s each; replicas answer in ${LATENCIES_MS.join(', ')} ms)\n\n` + table(rows) +
    `\n\nleast-loaded + p2c / round robin: p99 **${fmt(p99[1]! / Math.max(p99[0]!, 1), 2)}×**, ` +
    `requests/s ${fmt(Number(rows[1]!['req/s']) / Math.max(1, Number(rows[0]!['req/s'])), 2)}×\n`;
}
