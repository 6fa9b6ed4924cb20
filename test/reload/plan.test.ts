import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../src/config/load.ts';
import { carryOverOf, planReload, replicaIds } from '../../src/reload/plan.ts';

const plan = suite('reload plan');

const target = (name: string, extra: Record<string, unknown> = {}) => ({ name, prefix: `/${name}`, replicas: ['http://127.0.0.1:9001'], ...extra });
const config = (targets: unknown[], extra: Record<string, unknown> = {}) => parseConfig({ node: { id: 'a', port: 8080 }, targets, ...extra });

plan('sorts targets into added, removed, changed and unchanged', () => {
  const p = planReload(
    config([target('same'), target('gone'), target('edit')]),
    config([target('same'), target('edit', { timeoutMs: 5 }), target('new')]),
  );
  assert.equal(p.added.map((t) => t.name), ['new']);
  assert.equal(p.removed, ['gone']);
  assert.equal(p.changed.map((c) => c.config.name), ['edit']);
  assert.equal(p.unchanged, ['same']);
  assert.equal(p.restartNeeded, []);
});

plan('node id, host, port, cluster and nats are reported as restart needed and keep their running values', () => {
  const running = config([], { cluster: { name: 'one' } });
  const file = config([], { node: { id: 'b', port: 9090, host: '0.0.0.0' }, cluster: { name: 'two' }, nats: { servers: ['nats://127.0.0.1:4222'] }, admin: { token: 't' } });
  const p = planReload(running, file);
  assert.equal(p.restartNeeded.map((r) => r.path).sort(), ['cluster', 'nats', 'node.host', 'node.id', 'node.port']);
  assert.equal(p.restartNeeded.find((r) => r.path === 'node.port'), { path: 'node.port', running: 8080, file: 9090 });
  assert.is(p.next.node.port, 8080);
  assert.is(p.next.node.id, 'a');
  assert.is(p.next.cluster.name, 'one');
  assert.is(p.next.nats, undefined);
  assert.is(p.next.admin.token, 't', 'what can change live is applied');
});

plan('a changed target keeps the breakers of replicas whose URL and breaker config are unchanged', () => {
  const prev = parseConfig({ targets: [target('t', { replicas: ['http://a:1', 'http://b:1'] })] }).targets[0]!;
  const moreReplicas = parseConfig({ targets: [target('t', { replicas: ['http://a:1', 'http://c:1'] })] }).targets[0]!;
  assert.equal(carryOverOf(prev, moreReplicas).breakers, ['http://a:1']);
  const newBreaker = parseConfig({ targets: [target('t', { replicas: ['http://a:1', 'http://b:1'], breaker: { openMs: 5 } })] }).targets[0]!;
  assert.equal(carryOverOf(prev, newBreaker).breakers, [], 'new breaker settings start new breakers');
});

plan('a changed target keeps the limits whose config is unchanged, by name', () => {
  const limits = (rpm: number) => [{ name: 'rpm', limit: rpm }, { name: 'burst', limit: 5, windowMs: 1_000 }];
  const prev = parseConfig({ targets: [target('t', { limits: limits(10) })] }).targets[0]!;
  const next = parseConfig({ targets: [target('t', { limits: limits(20) })] }).targets[0]!;
  assert.equal(carryOverOf(prev, next).limits, ['burst']);
  assert.is(carryOverOf(prev, next).cache, false, 'no cache section: nothing to keep');
});

plan('a changed target keeps its cache when the cache section and `public` are unchanged', () => {
  const t = (extra: Record<string, unknown>) => parseConfig({ targets: [target('t', extra)] }).targets[0]!;
  const cache = { enabled: true, ttlMs: 60_000 };
  assert.is(carryOverOf(t({ cache }), t({ cache, timeoutMs: 5 })).cache, true);
  assert.is(carryOverOf(t({ cache }), t({ cache: { ...cache, ttlMs: 1 } })).cache, false);
  assert.is(carryOverOf(t({ cache }), t({ cache, public: true })).cache, false, 'what may be shared changed');
  assert.is(carryOverOf(t({}), t({ timeoutMs: 5 })).cache, false, 'no cache on: nothing to keep');
});

plan('replica ids match the dispatcher: a URL listed again gets #index', () => {
  assert.equal(replicaIds(['http://a', 'http://b', 'http://a', 'http://a']), ['http://a', 'http://b', 'http://a#2', 'http://a#3']);
});

plan.run();
