// Pass-through: sluice (mode none, no limits) against a bare Node proxy over the same upstream, side
// by side, in alternating rounds compared by their medians; the per-round ratios show the noise.
import { alternate, fmt, median, medianRow, startProcess, startSluice, startUpstream, table } from '../harness.ts';

const ROUNDS = 5;

export async function passthrough(durationS: number): Promise<string> {
  const up = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const sluice = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' } }] });
  const [b, s] = await alternate(
    { url: `http://127.0.0.1:${bare.port}/x`, pid: bare.proc.pid! },
    { url: `http://127.0.0.1:${sluice.port}/up/x`, pid: sluice.proc.pid! }, ROUNDS, durationS);
  bare.proc.kill(); sluice.proc.kill(); up.proc.kill();

  const ratios = s.map((x, i) => x.rps / b[i]!.rps);
  const rps = median(s.map((x) => x.rps)) / median(b.map((x) => x.rps));
  const cpu = median(s.map((x) => x.cpuUsPerReq)) / median(b.map((x) => x.cpuUsPerReq));
  return `## Pass-through (GET, 50 connections, ${ROUNDS} alternating rounds of ${durationS} s; medians)\n\n` +
    table([medianRow('proxy', 'bare Node proxy (undici)', b), medianRow('proxy', 'sluice (mode none)', s)]) +
    `\n\nsluice / bare: **${fmt(rps, 2)}×** requests/s (rounds: ${ratios.map((r) => fmt(r, 2)).join(', ')}), ` +
    `CPU per request ${fmt(cpu, 2)}×\n`;
}
