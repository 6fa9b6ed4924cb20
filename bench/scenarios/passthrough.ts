// Pass-through: sluice (mode none, no limits) against a bare Node proxy over the same upstream, side
// by side, in alternating rounds compared by their medians; the per-round ratios show the noise. A
// third server prices the access log (on by default; the other sluice rows run without, as nginx's
// baseline runs with access_log off): one JSON line per request written to a pipe the bench drains.
import { alternateAll, fmt, median, medianRow, type Measured, startProcess, startSluice, startUpstream, table } from '../harness.ts';

const ROUNDS = 5;

export async function passthrough(durationS: number): Promise<string> {
  const up = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const targets = [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' } }];
  const sluice = await startSluice({ targets });
  const logged = await startSluice({ targets, log: { access: true } });
  const [b, s, l] = await alternateAll([
    { url: `http://127.0.0.1:${bare.port}/x`, pid: bare.proc.pid! },
    { url: `http://127.0.0.1:${sluice.port}/up/x`, pid: sluice.proc.pid! },
    { url: `http://127.0.0.1:${logged.port}/up/x`, pid: logged.proc.pid! },
  ], ROUNDS, durationS) as [Measured[], Measured[], Measured[]];
  for (const p of [bare, sluice, logged, up]) p.proc.kill();

  const ratios = s.map((x, i) => x.rps / b[i]!.rps);
  const rps = median(s.map((x) => x.rps)) / median(b.map((x) => x.rps));
  const cpuPerReq = (m: Measured[]) => median(m.map((x) => x.cpuUsPerReq));
  const cpu = cpuPerReq(s) / cpuPerReq(b);
  return `## Pass-through (GET, 50 connections, ${ROUNDS} alternating rounds of ${durationS} s; medians)\n\n` +
    table([medianRow('proxy', 'bare Node proxy (undici)', b), medianRow('proxy', 'sluice (mode none)', s),
      medianRow('proxy', 'sluice (mode none, access log on)', l)]) +
    `\n\nsluice / bare: **${fmt(rps, 2)}×** requests/s (rounds: ${ratios.map((r) => fmt(r, 2)).join(', ')}), ` +
    `CPU per request ${fmt(cpu, 2)}×. The access log: ${fmt(median(l.map((x) => x.rps)) / median(s.map((x) => x.rps)), 2)}× requests/s, ` +
    `${fmt(cpuPerReq(l) - cpuPerReq(s), 0)} µs more CPU per request.\n`;
}
