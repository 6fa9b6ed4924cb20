// `sluice simulate`: a whole cluster in one process on the virtual clock (./simulate-cluster.ts),
// printing per node the requests, granted, rejected and upstream calls, per window the calls that
// reached the upstream against the limit as a text chart, and optionally an SVG chart file. The defaults are seed 002's experiment:
// 2 nodes, 20 requests/s, 120 requests per node spread evenly over 10 s.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidConfigError } from '../errors.ts';
import { asciiChart, svgChart } from './simulate-chart.ts';
import { simulateCluster, type Arrivals, type SimFault, type SimOutcome, type SimSpec } from './simulate-cluster.ts';

export const SIMULATE_USAGE = `usage: sluice simulate [options]
  --nodes N            nodes in the cluster (default 2)
  --seconds S          seconds of load (default 10)
  --limit N            requests per window, cluster-wide (default 20)
  --window-ms MS       window length (default 1000)
  --mode M             strict | approximate (default strict)
  --rate R[,R…]        requests per second per node, one for all or one per node (default 12)
  --requests N[,N…]    instead of --rate: requests per node over the whole run (seed 002: 120,120)
  --arrivals A         even | poisson | bursty (default even)
  --delay-ms MIN-MAX   one-way bus delay per message (default 1-5)
  --drop P             share of bus messages lost, 0..1 (default 0)
  --crash-holder-at MS    crash the singleton holder MS after the load starts
  --isolate-holder-at MS  cut the holder off from every other node
  --heal-at MS         end the partition
  --edge-ms MS         strict: limits[].edgeMs, no permit spent in a window's first or last MS
  --edge-requests N    extra requests per node in the first and last 100 ms of every window (default 0)
  --upstream-ms MIN-MAX  travel time of a granted call to the upstream, which counts calls by the
                       window they land in (default 1-3)
  --seed N             random seed (default 1)
  --chart FILE         also write an SVG chart
  --json               print the outcome as JSON instead of tables`;

type Options = Record<string, string | boolean | undefined>;

const VALUE_FLAGS = ['nodes', 'seconds', 'limit', 'window-ms', 'mode', 'rate', 'requests', 'arrivals', 'delay-ms', 'drop',
  'crash-holder-at', 'isolate-holder-at', 'heal-at', 'seed', 'chart', 'edge-ms', 'edge-requests', 'upstream-ms'] as const;

/** Reads `simulate`'s own flags (values after a space or `=`); unknown flags are errors. */
export function parseSimulateArgs(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      ...Object.fromEntries(VALUE_FLAGS.map((f) => [f, { type: 'string' as const }])),
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  return values as Options;
}

/**
 * `options` are what the generic command line parse found; it cannot tell a flag's value from a
 * positional, so when run as `sluice simulate …` the flags are read again from `argv` here.
 */
export async function runSimulateCommand(given: Options, argv: string[] = process.argv.slice(2)): Promise<void> {
  const at = argv.indexOf('simulate');
  const options = at >= 0 ? parseSimulateArgs(argv.slice(at + 1)) : given;
  if (options.help) { process.stdout.write(SIMULATE_USAGE + '\n'); return; }
  const spec = specFrom(options);
  const outcome = await simulateCluster(spec, progressOn(process.stderr));
  if (typeof options.chart === 'string') writeFileSync(options.chart, svgChart(outcome));
  process.stdout.write((options.json ? JSON.stringify(outcome, null, 2) : report(outcome)) + '\n');
}

/**
 * A progress line for long runs, on a terminal only: redrawn in place on stderr, erased at the end,
 * so piped or captured output is exactly the report.
 */
export function progressOn(stream: { isTTY?: boolean; write(s: string): unknown }): { onProgress?: (doneMs: number, totalMs: number) => void } {
  if (!stream.isTTY) return {};
  return {
    onProgress: (doneMs, totalMs) => {
      stream.write(doneMs >= totalMs ? '\r\x1b[K' : `\rsimulating: ${(doneMs / 1000).toFixed(0)} of ${(totalMs / 1000).toFixed(0)} s (${Math.floor((100 * doneMs) / totalMs)}%)\x1b[K`);
    },
  };
}

const KNOWN = new Set(['nodes', 'seconds', 'limit', 'window-ms', 'mode', 'rate', 'requests', 'arrivals', 'delay-ms', 'drop',
  'crash-holder-at', 'isolate-holder-at', 'heal-at', 'seed', 'chart', 'edge-ms', 'edge-requests', 'upstream-ms', 'json', 'help']);

/** Reads the options; every bad value is named with what was expected. */
export function specFrom(o: Options): SimSpec {
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) bad(k, o[k], `one of --${[...KNOWN].join(', --')}`);
  const nodes = int(o, 'nodes', 2, 1, 200);
  const seconds = num(o, 'seconds', 10, 0.1, 600);
  const mode = str(o, 'mode', 'strict');
  if (mode !== 'strict' && mode !== 'approximate') bad('mode', mode, 'strict or approximate');
  const arrivals = str(o, 'arrivals', 'even');
  if (!['even', 'poisson', 'bursty'].includes(arrivals)) bad('arrivals', arrivals, 'even, poisson or bursty');
  let rate: number | number[];
  if (o.requests !== undefined) {
    if (o.rate !== undefined) bad('requests', o.requests, 'either --requests or --rate, not both');
    rate = list(o, 'requests', nodes).map((n) => n / seconds);
  } else rate = o.rate === undefined ? 12 : list(o, 'rate', nodes);
  const delayMs = range(o, 'delay-ms', '1-5');
  const upstreamMs = range(o, 'upstream-ms', '1-3');
  const faults: SimFault[] = [];
  for (const [flag, kind] of [['crash-holder-at', 'crash-holder'], ['isolate-holder-at', 'isolate-holder'], ['heal-at', 'heal']] as const) {
    if (o[flag] !== undefined) faults.push({ atMs: num(o, flag, 0, 0, seconds * 1000), kind });
  }
  return {
    mode, nodes, seconds, rate, faults, arrivals: arrivals as Arrivals,
    limit: int(o, 'limit', 20, 1, 1e9),
    windowMs: int(o, 'window-ms', 1000, 10, 3_600_000),
    delayMs, upstreamMs,
    dropRate: num(o, 'drop', 0, 0, 1),
    seed: int(o, 'seed', 1, 0, 2 ** 31),
    ...(o['edge-ms'] !== undefined ? { edgeMs: int(o, 'edge-ms', 0, 0, 3_600_000) } : {}),
    edgeRequests: int(o, 'edge-requests', 0, 0, 1_000),
  };
}

/** The tables and text chart printed for a run. */
export function report(o: SimOutcome): string {
  const s = o.spec;
  const total = o.nodes.reduce((a, n) => ({ requests: a.requests + n.requests, granted: a.granted + n.granted, rejected: a.rejected + n.rejected }), { requests: 0, granted: 0, rejected: 0 });
  const rows = o.nodes.map((n) => ({
    node: n.id + (n.crashed ? ' (crashed)' : ''), requests: n.requests, granted: n.granted, rejected: n.rejected, 'upstream calls': n.upstreamCalls,
    'share of granted': pct(n.granted / Math.max(1, total.granted)), ...(s.mode === 'strict' ? { 'local decisions': pct(n.localRatio) } : {}),
  }));
  const calls = o.nodes.reduce((a, n) => a + n.upstreamCalls, 0);
  rows.push({ node: 'total', requests: total.requests, granted: total.granted, rejected: total.rejected, 'upstream calls': calls, 'share of granted': '100%', ...(s.mode === 'strict' ? { 'local decisions': '' } : {}) });
  const over = o.windows.filter((w) => w.upstream > s.limit);
  const busy = o.windows.filter((w) => !w.faulted && w.demanded >= s.limit);
  const use = busy.length ? busy.reduce((a, w) => a + w.upstream / s.limit, 0) / busy.length : undefined;
  const a = o.answers;
  const arrivals = s.arrivals ?? 'even';
  const lines = [
    `sluice simulate: ${s.nodes} nodes, ${s.mode}, limit ${s.limit} per ${s.windowMs} ms, ${s.seconds} s of ${arrivals} load, ` +
      `bus delay ${s.delayMs?.min ?? 1}-${s.delayMs?.max ?? 5} ms${s.dropRate ? `, ${pct(s.dropRate)} lost` : ''}, seed ${s.seed ?? 1}`,
    `upstream reached ${s.upstreamMs?.min ?? 1}-${s.upstreamMs?.max ?? 3} ms after a grant and counts calls by the window they land in` +
      (s.edgeRequests ? `; ${s.edgeRequests} extra requests per node in the first and last 100 ms of each window` : '') +
      (s.mode === 'strict' && s.edgeMs !== undefined ? `; edgeMs ${s.edgeMs}` : ''),
    '',
    table(rows),
    '',
    `windows: ${o.windows.length}, most calls at the upstream in one ${Math.max(0, ...o.windows.map((w) => w.upstream))} (limit ${s.limit}), ` +
      (over.length ? `OVER THE LIMIT in ${over.length}` : 'never over the limit') +
      (use !== undefined ? `; use of the limit where demand reached it: ${pct(use)}` : ''),
    a.once === a.requests ? `answers: each of ${a.requests} requests answered once`
      : `answers: ${a.requests} requests, ${a.once} answered once, ${a.never} NEVER ANSWERED, ${a.moreThanOnce} ANSWERED MORE THAN ONCE`,
    ...failoverLines(o),
    ...(s.mode === 'strict'
      ? [`singleton changes: ${o.holderChanges}, longest time a node knew no holder: ${o.withoutHolderMs} ms, lease asks: ${o.leaseAsks}, ` +
        `units leased ${o.unitsLeased} / returned ${o.unitsReturned}, bus messages: ${o.busMessages}`]
      : [`bus messages: ${o.busMessages}`]),
    '',
    asciiChart(o),
  ];
  return lines.join('\n');
}

/**
 * Window use across a holder crash or isolation: the windows between the fault and a successor
 * holding, granted against the limit and what was demanded (issue #12: the successor continues them).
 */
function failoverLines(o: SimOutcome): string[] {
  const hit = o.windows.filter((w) => w.faulted);
  if (!hit.length) return [];
  const faults = (o.spec.faults ?? []).filter((f) => f.kind !== 'heal').map((f) => `${f.kind} at ${f.atMs} ms`).join(', ');
  return [`across the failover (${faults}): ` + hit.map((w) =>
    `window at ${w.startMs} ms: ${w.upstream} / ${o.spec.limit} calls at the upstream (${pct(w.upstream / o.spec.limit)}, ${w.demanded} demanded)`).join('; ')];
}

function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(cols), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function bad(flag: string, value: unknown, expected: string): never {
  throw new InvalidConfigError([{ path: `--${flag}`, value, expected }], 'command line');
}

/** `MS` or `MIN-MAX`. */
function range(o: Options, flag: string, def: string): { min: number; max: number } {
  const text = str(o, flag, def);
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m || Number(m[2] ?? m[1]) < Number(m[1])) bad(flag, text, 'MS or MIN-MAX, e.g. 1-20');
  return { min: Number(m[1]), max: Number(m[2] ?? m[1]) };
}

function str(o: Options, flag: string, def: string): string {
  const v = o[flag];
  if (v === undefined) return def;
  if (typeof v !== 'string') bad(flag, v, 'a value');
  return v;
}

function num(o: Options, flag: string, def: number, min: number, max: number): number {
  const v = o[flag];
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < min || n > max) bad(flag, v, `a number from ${min} to ${max}`);
  return n;
}

function int(o: Options, flag: string, def: number, min: number, max: number): number {
  const n = num(o, flag, def, min, max);
  if (!Number.isInteger(n)) bad(flag, o[flag], `an integer from ${min} to ${max}`);
  return n;
}

/** One number for every node, or one per node. */
function list(o: Options, flag: string, nodes: number): number[] {
  const v = o[flag];
  const parts = typeof v === 'string' ? v.split(',').map((x) => Number(x.trim())) : [];
  if (!parts.length || parts.some((n) => !Number.isFinite(n) || n < 0) || (parts.length !== 1 && parts.length !== nodes)) {
    bad(flag, v, `a non-negative number, or ${nodes} of them separated by commas`);
  }
  return parts.length === 1 ? Array(nodes).fill(parts[0]) : parts;
}
