// ConfiguredLimits on one node (LocalBus + VirtualClock): which limits apply where, 429 answers and
// their headers, queueing until the next window, shadow mode, give-back across limits, tokens.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import type { RequestContext } from '../../../src/proxy/request-context.ts';
import { RateLimitedError } from '../../../src/errors.ts';
import { windowEndAt, windowIdAt } from '../../../src/limit/windows.ts';
import { ConfiguredLimits } from '../../../src/actors/limits/target-limits.ts';
import type { LimitEnforcer } from '../../../src/actors/limits/enforcer.ts';
import { parseTarget } from '../../../src/config/load.ts';
import { H_DEGRADED, H_LIMIT, H_REMAINING, H_RESET, H_WOULD_LIMIT } from '../../../src/actors/limits/answer-headers.ts';
import { SimCluster, tryCall } from './sim-support.ts';

const limits = suite('target limits');

const WINDOW_MS = 10_000;
const START = windowEndAt(windowIdAt(1_700_000_000_000, WINDOW_MS), WINDOW_MS) + 2_000;

function node(limitsConfig: Array<Record<string, unknown>>) {
  const c = new SimCluster({ startAt: START, catchUpMs: 0 });
  const s = c.add('a', { name: 'llm', limits: limitsConfig.map((l) => ({ windowMs: WINDOW_MS, ...l })) });
  s.start();
  return { c, s, l: s.limits };
}

function ctx(ip = '10.0.0.1', headers: Record<string, string> = {}, signal = new AbortController().signal): RequestContext {
  return { clientIp: ip, req: { headers }, clientGone: signal } as unknown as RequestContext;
}

async function refusal(p: Promise<unknown>): Promise<RateLimitedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RateLimitedError) return err;
    throw err;
  }
  throw new Error('expected a 429');
}

limits('a refusal carries Retry-After until the window ends and the RateLimit-* of the refusing limit', async () => {
  const { c, l } = node([{ name: 'rpm', limit: 2 }]);
  const ok = await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.equal({ ...ok.headers }, { [H_LIMIT]: '2', [H_REMAINING]: '1', [H_RESET]: '8' });
  await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  c.clock.advance(500);
  const err = await refusal(l.admitUpstreamCall({ requests: 1, tokens: 0 }));
  assert.is(err.code, 'SLUICE_RATE_LIMITED');
  assert.is(err.limitName, 'rpm');
  assert.is(err.retryAfterMs, 7_500);
  assert.equal({ ...err.headers }, { [H_LIMIT]: '2', [H_REMAINING]: '0', [H_RESET]: '8' });
});

limits('per-target limits apply to upstream calls; per-client limits to requests, one key per ip or header value', async () => {
  const { l } = node([
    { name: 'upstream', limit: 100 },
    { name: 'per-ip', per: 'ip', limit: 1 },
    { name: 'per-key', per: { header: 'x-api-key' }, limit: 2 },
  ]);
  const up = await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.is(up.headers[H_LIMIT], '100', 'an upstream call meets only the per-target limit');
  await l.admitRequest(ctx('10.0.0.1', { 'x-api-key': 'k1' }), { requests: 1, tokens: 0 });
  const byIp = await refusal(l.admitRequest(ctx('10.0.0.1', { 'x-api-key': 'k2' }), { requests: 1, tokens: 0 }));
  assert.is(byIp.limitName, 'per-ip');
  await l.admitRequest(ctx('10.0.0.2', { 'x-api-key': 'k1' }), { requests: 1, tokens: 0 });
  const byKey = await refusal(l.admitRequest(ctx('10.0.0.3', { 'x-api-key': 'k1' }), { requests: 1, tokens: 0 }));
  assert.is(byKey.limitName, 'per-key');
  // Clients without the header share one key of their own.
  await l.admitRequest(ctx('10.0.0.4'), { requests: 1, tokens: 0 });
  await l.admitRequest(ctx('10.0.0.5'), { requests: 1, tokens: 0 });
  assert.is((await refusal(l.admitRequest(ctx('10.0.0.6'), { requests: 1, tokens: 0 }))).limitName, 'per-key');
});

limits('a refusal by one limit gives back what the others reserved', async () => {
  const { c, s, l } = node([{ name: 'wide', limit: 10 }, { name: 'narrow', limit: 2 }]);
  for (let i = 0; i < 2; i++) await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  for (let i = 0; i < 3; i++) await refusal(l.admitUpstreamCall({ requests: 1, tokens: 0 }));
  assert.is(s.gossip.limiters().get('llm/wide')!.spent('target', c.clock.now()), 2);
});

limits('allowed answers show the most constraining limit', async () => {
  const { l } = node([{ name: 'wide', limit: 10 }, { name: 'narrow', limit: 3 }]);
  const a = await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.is(a.headers[H_LIMIT], '3');
  assert.is(a.headers[H_REMAINING], '2');
});

limits('queue mode holds the request until the next window admits it', async () => {
  const { c, l } = node([{ name: 'rpm', limit: 1, onLimit: 'queue', maxQueueMs: 9_000 }]);
  await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  let admittedAt: number | undefined;
  const queued = l.admitUpstreamCall({ requests: 1, tokens: 0 }).then((a) => { admittedAt = c.clock.now(); return a; });
  await new Promise(setImmediate);
  assert.is(l.queued, 1);
  c.clock.advance(7_999);
  await new Promise(setImmediate);
  assert.is(admittedAt, undefined, 'still queued before the window ends');
  c.clock.advance(1);
  const a = await queued;
  assert.is(admittedAt, START + 8_000);
  assert.is(a.headers[H_REMAINING], '0');
  assert.is(l.queued, 0);
});

limits('queue mode answers 429 at once when the next window is beyond maxQueueMs', async () => {
  const { l } = node([{ name: 'rpm', limit: 1, onLimit: 'queue', maxQueueMs: 1_000 }]);
  await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  const err = await refusal(l.admitUpstreamCall({ requests: 1, tokens: 0 }));
  assert.is(err.retryAfterMs, 8_000);
});

limits('a queued request whose client leaves stops waiting', async () => {
  const { l } = node([{ name: 'per-ip', per: 'ip', limit: 1, onLimit: 'queue' }]);
  await l.admitRequest(ctx(), { requests: 1, tokens: 0 });
  const gone = new AbortController();
  const waiting = l.admitRequest(ctx('10.0.0.1', {}, gone.signal), { requests: 1, tokens: 0 });
  await new Promise(setImmediate);
  assert.is(l.queued, 1);
  gone.abort();
  try {
    await waiting;
    assert.unreachable('should have been abandoned');
  } catch (err) {
    assert.is((err as Error).name, 'AbortError');
  }
  assert.is(l.queued, 0);
});

limits('shadow mode admits what it would refuse, says so, and counts it', async () => {
  const { s, l } = node([{ name: 'rpm', limit: 1, enforce: false }]);
  const first = await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.is(first.headers[H_WOULD_LIMIT], undefined);
  const second = await l.admitUpstreamCall({ requests: 1, tokens: 0 });
  assert.is(second.headers[H_WOULD_LIMIT], 'rpm');
  const text = await s.metrics.registry.metrics();
  assert.match(text, /sluice_limit_decisions_total\{target="llm",limit="rpm",outcome="would_limit",node="a"\} 1/);
  assert.match(text, /sluice_limit_decisions_total\{target="llm",limit="rpm",outcome="admitted",node="a"\} 1/);
});

limits('metrics count limited decisions and show the cluster total and degraded state', async () => {
  const { s, l } = node([{ name: 'rpm', limit: 1 }]);
  await tryCall(l);
  await tryCall(l);
  const text = await s.metrics.registry.metrics();
  assert.match(text, /sluice_limit_decisions_total\{target="llm",limit="rpm",outcome="limited",node="a"\} 1/);
  assert.match(text, /sluice_limit_cluster_total\{target="llm",limit="rpm",node="a"\} 1/);
  assert.match(text, /sluice_limit_degraded\{target="llm",limit="rpm",node="a"\} 0/);
  assert.match(text, /sluice_gossip_messages|sluice_limit_decisions_total/);
});

limits('a token reservation refuses the request that would cross the limit, before any call', async () => {
  const { l } = node([{ name: 'tpm', dimension: 'tokens', limit: 1_000 }]);
  await l.admitUpstreamCall({ requests: 1, tokens: 600 });
  const err = await refusal(l.admitUpstreamCall({ requests: 1, tokens: 500 }));
  assert.is(err.headers[H_REMAINING], '400');
  await l.admitUpstreamCall({ requests: 1, tokens: 400 });
});

limits('settling with the reported usage refunds or charges the difference', async () => {
  const { c, s, l } = node([{ name: 'tpm', dimension: 'tokens', limit: 1_000 }, { name: 'rpm', limit: 100 }]);
  const spent = (name: string) => s.gossip.limiters().get(`llm/${name}`)!.spent('target', c.clock.now());
  const a = await l.admitUpstreamCall({ requests: 1, tokens: 600 });
  a.settle({ tokens: 150 });
  assert.is(spent('tpm'), 150);
  const b = await l.admitUpstreamCall({ requests: 1, tokens: 100 });
  b.settle({ tokens: 300 });
  assert.is(spent('tpm'), 450);
  assert.is(spent('rpm'), 2, 'usage does not touch request limits');
  const d = await l.admitUpstreamCall({ requests: 1, tokens: 50 });
  d.settle({});
  assert.is(spent('tpm'), 500, 'unknown usage keeps the estimate');
  const e = await l.admitUpstreamCall({ requests: 1, tokens: 50 });
  e.cancel();
  e.settle({ tokens: 999 });
  assert.is(spent('tpm'), 500, 'a cancelled call gives everything back, once');
  assert.is(spent('rpm'), 3);
});

limits('an estimate larger than the whole limit is refused at once even in queue mode', async () => {
  const { l } = node([{ name: 'tpm', dimension: 'tokens', limit: 100, onLimit: 'queue' }]);
  const err = await refusal(l.admitUpstreamCall({ requests: 1, tokens: 101 }));
  assert.is(l.queued, 0);
  assert.is(err.limitName, 'tpm');
});

limits('a degraded refusal says which limit is degraded', async () => {
  const c = new SimCluster({ startAt: START, catchUpMs: 0 });
  const target = { name: 'llm', limits: [{ name: 'rpm', limit: 10, windowMs: WINDOW_MS, degraded: 'fail-closed' }] };
  const [a] = [c.add('a', target), c.add('b', target)];
  c.stacks.forEach((s) => s.start());
  c.clock.advance(400);
  c.network.partition([['a'], ['b']]);
  c.clock.advance(200);
  const err = await refusal(a!.limits.admitUpstreamCall({ requests: 1, tokens: 0 }));
  assert.is(err.headers[H_DEGRADED], 'rpm');
});

limits('strict limits use the strict factory when the node has one, else run approximate and log it', async () => {
  const c = new SimCluster({ startAt: START, catchUpMs: 0 });
  const s = c.add('a', { name: 'llm', limits: [] });
  s.start();
  const target = parseTarget({ name: 'llm', prefix: '/l', replicas: ['http://127.0.0.1:1'], limits: [{ name: 'exact', mode: 'strict', limit: 1, windowMs: WINDOW_MS }] });
  const logged: string[] = [];
  const fallback = new ConfiguredLimits(target, s.deps, { gossip: s.gossip, log: (line) => logged.push(line) });
  assert.is(logged.length, 1);
  assert.match(logged[0]!, /strict limit runs as approximate/);
  await fallback.admitUpstreamCall({ requests: 1, tokens: 0 });
  await refusal(fallback.admitUpstreamCall({ requests: 1, tokens: 0 }));
  await fallback.close();

  const made: string[] = [];
  const fake: LimitEnforcer = {
    config: target.limits[0]!,
    admit: async (key, cost, now) => ({ allowed: true, limitName: 'exact', limit: 1, remaining: 0, resetAt: now + 1, retryAfterMs: 0, windowId: 0, degraded: false, wouldLimit: false }),
    reconcile: () => {},
    describe: () => ({ mode: 'strict' }),
    close: async () => {},
  };
  const strict = new ConfiguredLimits(target, s.deps, { gossip: s.gossip, strict: (l) => { made.push(l.name); return fake; } });
  assert.equal(made, ['exact']);
  await strict.admitUpstreamCall({ requests: 1, tokens: 0 });
  await strict.admitUpstreamCall({ requests: 1, tokens: 0 });
  await strict.close();
});

limits.run();
