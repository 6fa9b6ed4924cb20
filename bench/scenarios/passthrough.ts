// Pass-through: sluice (mode none, no limits) against a bare Node proxy over the same upstream, side by side.
import { fmt, load, loadWithCpu, startProcess, startSluice, startUpstream, table } from '../harness.ts';

export async function passthrough(durationS: number): Promise<string> {
  const up = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const sluice = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' } }] });

  // Warm both, then measure each alone so they do not compete for the 2 cores.
  await load(`http://127.0.0.1:${bare.port}/x`, { durationS: 1 });
  await load(`http://127.0.0.1:${sluice.port}/up/x`, { durationS: 1 });
  const b = await loadWithCpu(`http://127.0.0.1:${bare.port}/x`, bare.proc.pid!, { durationS });
  const s = await loadWithCpu(`http://127.0.0.1:${sluice.port}/up/x`, sluice.proc.pid!, { durationS });
  bare.proc.kill(); sluice.proc.kill(); up.proc.kill();
  return '## Pass-through (GET, 50 connections, ' + durationS + ' s each)\n\n' + table([
    { proxy: 'bare Node proxy (undici)', 'req/s': fmt(b.rps, 0), 'p50 ms': b.p50, 'p99 ms': b.p99, 'CPU µs/req': fmt(b.cpuUsPerReq, 0), errors: b.errors + b.non2xx },
    { proxy: 'sluice (mode none)', 'req/s': fmt(s.rps, 0), 'p50 ms': s.p50, 'p99 ms': s.p99, 'CPU µs/req': fmt(s.cpuUsPerReq, 0), errors: s.errors + s.non2xx },
  ]) + `\n\nsluice / bare: **${fmt(s.rps / b.rps, 2)}×** requests/s, p99 ${fmt(s.p99 / Math.max(b.p99, 1), 2)}×, ` +
    `CPU per request ${fmt(s.cpuUsPerReq / b.cpuUsPerReq, 2)}× (throughput-equivalent ${fmt(b.cpuUsPerReq / s.cpuUsPerReq, 2)}×)\n`;
}
