// A single sluice node (in-process bus) with a strict limit, over HTTP: it holds the singleton at once,
// admits exactly the limit per window, answers 429 past it, and exports the strict metrics.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import type { SluiceNode } from '../../../src/node.ts';
import { startNode } from '../../support/nodes.ts';
import { UpstreamStub } from '../../support/upstream-stub.ts';

const node = suite('a node with a strict limit');
let n: SluiceNode;
let up: UpstreamStub;

node.before(async () => {
  up = await UpstreamStub.start();
  n = await startNode({
    node: { id: 'solo' },
    targets: [{
      name: 'paid', prefix: '/paid', replicas: [up.url], batch: { mode: 'none' },
      // A window of an hour: the test never straddles two.
      limits: [{ name: 'calls', limit: 5, windowMs: 3_600_000, mode: 'strict', prefetch: { minPrefetch: 2 } }],
    }],
  });
});
node.after(async () => { await n.stop(); await up.close(); });

node('admits the limit, then answers 429 with RateLimit headers; the holder shows in /_sluice/cluster', async () => {
  const statuses: number[] = [];
  let limited: Record<string, unknown> = {};
  for (let i = 0; i < 8; i++) {
    const r = await request(`${n.url}/paid/x`);
    await r.body.text();
    statuses.push(r.statusCode);
    if (r.statusCode === 429) limited = r.headers;
  }
  assert.equal(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  assert.is(up.calls, 5);
  assert.is(limited['ratelimit-limit'], '5');
  assert.is(limited['ratelimit-remaining'], '0');
  assert.ok(Number(limited['retry-after']) > 0);
  const c = (await (await request(`${n.url}/_sluice/cluster`)).body.json()) as { singleton: string };
  assert.is(c.singleton, 'solo');
});

node('exports lease, decision and singleton metrics', async () => {
  const text = await (await request(`${n.url}/_sluice/metrics`)).body.text();
  for (const m of ['sluice_strict_leases{', 'sluice_strict_lease_units{', 'sluice_strict_decisions{', 'sluice_strict_local_admission_ratio{',
    'sluice_singleton_changes', 'sluice_singleton_without_holder_seconds', 'sluice_singleton_holder']) {
    assert.ok(text.includes(m), `missing ${m}`);
  }
  assert.match(text, /sluice_singleton_holder\{node="solo"\} 1/);
  assert.match(text, /sluice_strict_leases\{[^}]*kind="short"[^}]*\} [1-9]/);
});

node.run();
