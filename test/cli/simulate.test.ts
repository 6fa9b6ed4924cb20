// `sluice simulate` as users run it, and its option reading and report.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../src/errors.ts';
import { parseSimulateArgs, progressOn, report, specFrom } from '../../src/cli/simulate.ts';
import { simLimit, simulateCluster } from '../../src/cli/simulate-cluster.ts';
import { limitSchema } from '../../src/config/schema.ts';

const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const simulate = suite('sluice simulate', { timeoutMs: 60_000 }); // each test spawns node with tsx

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

simulate("reproduces seed 002's experiment: a per-node table, never over the limit, and an SVG chart", async () => {
  const svg = join(mkdtempSync(join(tmpdir(), 'sluice-sim-')), 'chart.svg');
  const r = await run(['simulate', '--nodes', '2', '--limit', '20', '--requests', '120,120', '--seconds', '10', '--chart', svg]);
  assert.is(r.code, 0, r.err);
  const rows = Object.fromEntries(r.out.split('\n').filter((l) => /^\| (n\d|total)/.test(l)).map((l) => {
    const cells = l.split('|').map((c) => c.trim());
    return [cells[1], { requests: Number(cells[2]), granted: Number(cells[3]), rejected: Number(cells[4]) }];
  }));
  assert.equal(Object.keys(rows), ['n1', 'n2', 'total']);
  assert.equal([rows.n1!.requests, rows.n2!.requests], [120, 120]);
  assert.ok(rows.total!.granted <= 200 && rows.total!.granted >= 190, `granted ${rows.total!.granted}`);
  assert.is(rows.total!.granted + rows.total!.rejected, 240);
  assert.match(r.out, 'never over the limit');
  assert.match(r.out, /calls at the upstream per window[^\n]*\n +0\.0s █+/);
  assert.match(r.out, 'answers: each of 240 requests answered once');
  assert.match(readFileSync(svg, 'utf8'), /^<svg[^>]*>[\s\S]*stroke-dasharray[\s\S]*<\/svg>$/);
});

simulate('bad options exit non-zero naming the flag and what it takes', async () => {
  const r = await run(['simulate', '--mode', 'exact']);
  assert.is(r.code, 2);
  assert.match(r.err, '--mode: got "exact", expected strict or approximate');
});

simulate('options: defaults are seed 002; per-node lists; faults; every bad value is named', () => {
  const d = specFrom({});
  assert.equal([d.nodes, d.limit, d.windowMs, d.seconds, d.rate, d.mode], [2, 20, 1000, 10, 12, 'strict']);
  const s = specFrom(parseSimulateArgs(['--nodes', '3', '--requests', '30,60,90', '--seconds', '3', '--crash-holder-at', '1500', '--delay-ms', '2-9']));
  assert.equal(s.rate, [10, 20, 30]);
  assert.equal(s.faults, [{ atMs: 1500, kind: 'crash-holder' }]);
  assert.equal(s.delayMs, { min: 2, max: 9 });
  for (const bad of [['--nodes', '0'], ['--rate', '1,2,3'], ['--drop', '2'], ['--delay-ms', '9-2'], ['--arrivals', 'waves'], ['--limit', '2.5']]) {
    try { specFrom(parseSimulateArgs(bad)); assert.unreachable(bad.join(' ')); }
    catch (e) {
      assert.is((e as { code?: string }).code, ErrorCode.InvalidConfig, bad.join(' '));
      assert.match((e as Error).message, bad[0]!, 'names the flag');
    }
  }
});

simulate('approximate mode runs the gossip core and reports its over-admission', async () => {
  const o = await simulateCluster({ ...specFrom({}), mode: 'approximate', seconds: 3 });
  const text = report(o);
  assert.match(text, '2 nodes, approximate');
  assert.not.match(text, 'local decisions');
  assert.is(o.nodes.reduce((s, n) => s + n.requests, 0), 72);
});

simulate('the same seed gives the same outcome, a different seed another (Poisson load, lost messages, a holder crash)', async () => {
  const spec = (seed: number) => ({ ...specFrom({}), nodes: 5, seconds: 4, arrivals: 'poisson' as const, rate: 15, dropRate: 0.05, seed, edgeRequests: 1,
    faults: [{ atMs: 1_500, kind: 'crash-holder' as const }] });
  const strip = ({ tookMs: _t, ...rest }: Awaited<ReturnType<typeof simulateCluster>>) => JSON.stringify(rest);
  const [a, b, c] = [await simulateCluster(spec(7)), await simulateCluster(spec(7)), await simulateCluster(spec(8))];
  assert.is(strip(a), strip(b));
  assert.is(report(a), report(b));
  assert.is.not(strip(a), strip(c));
  const approx = (seed: number) => simulateCluster({ ...spec(seed), mode: 'approximate', faults: [] });
  assert.is(strip(await approx(3)), strip(await approx(3)));
});

simulate('the upstream counts calls by the window they land in, from its own clock: a call travelling a whole window lands in the next', async () => {
  const W = 1_000;
  const run = (travel: number) => simulateCluster({ ...specFrom({}), mode: 'approximate', nodes: 3, seconds: 4, limit: 20, rate: [9, 3, 0], seed: 5,
    upstreamMs: { min: travel, max: travel } });
  const [now, late] = [await run(0), await run(W)];
  // Same decisions (the oracle's randomness is its own), counted one window later at the upstream.
  assert.equal(late.nodes.map((n) => n.granted), now.nodes.map((n) => n.granted));
  // The late run reports one window more: the one its last calls land in.
  assert.equal(late.windows.map((w) => w.granted), [...now.windows.map((w) => w.granted), 0]);
  assert.equal(now.windows.map((w) => w.upstream), now.windows.map((w) => w.granted));
  assert.equal(late.windows.map((w) => w.upstream), [0, ...now.windows.map((w) => w.granted)]);
  assert.equal(late.windows.at(-1)!.upstreamByNode.reduce((a, b) => a + b, 0), late.windows.at(-1)!.upstream);
  assert.equal(late.answers, { requests: 48, once: 48, never: 0, moreThanOnce: 0 });
});

simulate('requests at window edges: the first and last 100 ms of every window get their share', async () => {
  const o = await simulateCluster({ ...specFrom({}), seconds: 3, rate: 2, edgeRequests: 2 });
  // Per window and node: 2 even requests (n1 at 0 and 500 ms, n2 41 ms later: one of them in the first
  // 100 ms) and 2 in each edge.
  assert.equal(o.windows.map((w) => [w.demanded, w.edgeDemanded]), [[12, 10], [12, 10], [12, 10]]);
});

simulate("the simulated limit is what the config loader makes of the same input (limitSchema's defaults)", () => {
  for (const spec of [{ limit: 20, windowMs: 1_000, mode: 'strict' as const }, { limit: 7, windowMs: 250, mode: 'approximate' as const, edgeMs: 5 },
    { limit: 500, windowMs: 1_000, mode: 'strict' as const, prefetch: { minPrefetch: 2, closeWaitMs: 100 } }]) {
    const parsed = limitSchema.parse({ name: 'sim', limit: spec.limit, windowMs: spec.windowMs, mode: spec.mode, prefetch: spec.prefetch ?? {},
      ...(spec.edgeMs !== undefined ? { edgeMs: spec.edgeMs } : {}) });
    // A key added to limitSchema with a default must be added to simLimit (src/cli/simulate-cluster.ts) too.
    assert.equal(simLimit(spec), parsed);
  }
});

simulate('a progress line is drawn on a terminal only, and erased at the end', async () => {
  const written: string[] = [];
  const tty = progressOn({ isTTY: true, write: (s: string) => written.push(s) });
  assert.equal(progressOn({ isTTY: false, write: () => assert.unreachable('no progress off a terminal') }), {});
  await simulateCluster({ ...specFrom({}), seconds: 3 }, tty);
  assert.ok(written.length >= 3, `${written.length} lines`);
  assert.match(written[0]!, /^\rsimulating: 1 of \d+ s \(\d+%\)/);
  assert.is(written.at(-1), '\r\x1b[K');
});

simulate.run();
