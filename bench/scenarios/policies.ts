// Flush policies on the policy environment (src/policy): every traffic pattern × the fixed-timer
// sweep and `adaptive`, averaged over seeds, on the virtual clock (no HTTP: decisions, not sockets,
// are measured here). `npm run bench -- policies` prints and writes the table; `--json` prints the
// rows as one JSON array instead.
import { evaluatePolicies, type PolicyRow } from '../../src/policy/evaluate.ts';
import { PATTERNS } from '../../src/policy/patterns.ts';

const SEEDS = [1, 2, 3];
const DURATION_MS = 60_000;

let lastRows: PolicyRow[] | undefined;

export const policyRows = async (): Promise<PolicyRow[]> => (lastRows = await evaluatePolicies({ seeds: SEEDS, durationMs: DURATION_MS }));

/** Each pattern's best fixed timer in hindsight beside `adaptive`, from the last run (README quotes it). */
export function policySummary(rows: readonly PolicyRow[] | undefined = lastRows): string {
  if (!rows) return '';
  const out = ['| pattern | best fixed timer (hindsight) | its reward | adaptive reward | adaptive / best |', '|---|---|---|---|---|'];
  for (const pattern of Object.keys(PATTERNS)) {
    const mine = rows.filter((r) => r.pattern === pattern);
    const best = mine.filter((r) => r.policy.startsWith('timer:')).sort((a, b) => b.reward - a.reward)[0];
    const adaptive = mine.find((r) => r.policy === 'adaptive');
    if (!best || !adaptive) continue;
    out.push(`| ${pattern} | ${best.policy} | ${best.reward.toFixed(4)} | ${adaptive.reward.toFixed(4)} | ${(adaptive.reward / best.reward).toFixed(3)}× |`);
  }
  return out.join('\n');
}

export async function policies(): Promise<string> {
  const rows = await policyRows();
  const out: string[] = [
    `## Flush policies (policy environment: ${DURATION_MS / 1000} s of virtual traffic per run, seeds ${SEEDS.join(', ')}, means)`,
    '',
    'Reward per request = upstream cost saved (1 − n^e/n for a batch of n) − 0.01 × added ms (hold + the upstream\'s',
    'extra time for the batch); see docs/policies.md. `timer:<ms>` is the timer policy with that `maxWaitMs`;',
    '`adaptive` runs with `maxWaitMs: 100` as its guard.',
    '',
    '| pattern | policy | calls / 1000 req | added p50 ms | added p99 ms | reward |',
    '|---------|--------|------------------|--------------|--------------|--------|',
  ];
  for (const r of rows) {
    out.push(`| ${r.pattern} | ${r.policy} | ${r.callsPer1000.toFixed(1)} | ${r.addedP50Ms.toFixed(1)} | ${r.addedP99Ms.toFixed(1)} | ${r.reward.toFixed(4)} |`);
  }
  out.push('', policySummary(rows));
  out.push('', 'Patterns: ' + Object.entries(PATTERNS).map(([k, p]) => `**${k}**: ${p.description}`).join('; ') + '.');
  return out.join('\n');
}
