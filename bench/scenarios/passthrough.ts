// Pass-through: sluice (mode none, no limits) against a bare Node proxy over the same upstream, side
// by side. On a small shared machine one run of each swings ±30%, so the two are measured in
// alternating rounds and the medians are compared; the range of the ratio shows the noise.
import { fmt, load, loadWithCpu, startProcess, startSluice, startUpstream, table, type LoadResult } from '../harness.ts';

const ROUNDS = 5;

type Measured = LoadResult & { cpuUsPerReq: number };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function passthrough(durationS: number): Promise<string> {
  const up = await startUpstream(0);
  const upstream = `http://127.0.0.1:${up.port}`;
  const bare = await startProcess(['bench/servers/bare-proxy.ts'], { UPSTREAM: upstream });
  const sluice = await startSluice({ targets: [{ name: 'up', prefix: '/up', replicas: [upstream], batch: { mode: 'none' } }] });
  const bareUrl = `http://127.0.0.1:${bare.port}/x`;
  const sluiceUrl = `http://127.0.0.1:${sluice.port}/up/x`;

  // Warm both (JIT, pools), then alternate so neither always runs on a fresher machine.
  await load(bareUrl, { durationS: 2 });
  await load(sluiceUrl, { durationS: 2 });
  const b: Measured[] = [];
  const s: Measured[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    b.push(await loadWithCpu(bareUrl, bare.proc.pid!, { durationS }));
    s.push(await loadWithCpu(sluiceUrl, sluice.proc.pid!, { durationS }));
  }
  bare.proc.kill(); sluice.proc.kill(); up.proc.kill();

  const row = (proxy: string, m: Measured[]) => ({
    proxy, 'req/s': fmt(median(m.map((x) => x.rps)), 0), 'p50 ms': median(m.map((x) => x.p50)), 'p99 ms': median(m.map((x) => x.p99)),
    'CPU µs/req': fmt(median(m.map((x) => x.cpuUsPerReq)), 0), errors: m.reduce((n, x) => n + x.errors + x.non2xx, 0),
  });
  const ratios = s.map((x, i) => x.rps / b[i]!.rps);
  const rps = median(s.map((x) => x.rps)) / median(b.map((x) => x.rps));
  const cpu = median(s.map((x) => x.cpuUsPerReq)) / median(b.map((x) => x.cpuUsPerReq));
  return `## Pass-through (GET, 50 connections, ${ROUNDS} alternating rounds of ${durationS} s; medians)\n\n` +
    table([row('bare Node proxy (undici)', b), row('sluice (mode none)', s)]) +
    `\n\nsluice / bare: **${fmt(rps, 2)}×** requests/s (rounds: ${ratios.map((r) => fmt(r, 2)).join(', ')}), ` +
    `CPU per request ${fmt(cpu, 2)}×\n`;
}
