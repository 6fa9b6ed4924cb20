// A node says at start when a strict limit's landing zones (docs/strict-limits.md, "Window edges")
// cost a fair share of it: short windows with the default clock skew. The expected share is computed
// here from the documented defaults (maxClockSkewMs 250; landingMs = skew + 2% of the window, at most
// 100 ms; both zones together under half a window), not taken from src.
import { suite } from '../../support/suite.ts';
import * as assert from 'uvu/assert';
import { startNode } from '../../support/nodes.ts';

const landing = suite('strict landing zones: what they cost is said at start');

async function startLines(limits: Record<string, unknown>[], cluster: Record<string, unknown> = {}): Promise<string[]> {
  const lines: string[] = [];
  const node = await startNode({
    node: { id: 'z' }, cluster: { name: 'lz', ...cluster },
    targets: [{ name: 'api', prefix: '/api', replicas: ['http://127.0.0.1:9'], limits }],
  }, { log: (line) => lines.push(line) });
  await node.stop();
  return lines.filter((l) => l.includes('charged to both windows'));
}

landing('a per-second strict limit with the default skew: the share and what steady load gets are logged', async () => {
  const lines = await startLines([{ name: 'rps', limit: 100, windowMs: 1_000, mode: 'strict' }]);
  // Zones: the last skew + 2% (20 ms) of a window, capped so both zones stay under half a window, and
  // the first skew (250 ms) of the next.
  const skew = 250;
  const end = Math.min(skew + Math.min(100, 0.02 * 1_000), 1_000 / 2 - 1 - skew);
  const share = (end + skew) / 1_000;
  assert.is(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, 'api/rps');
  assert.match(lines[0]!, `${Math.round(share * 100)}% of each 1000 ms window`);
  assert.match(lines[0]!, `about ${Math.floor(100 / (1 + share))} of 100`);
});

landing('a per-minute strict limit, an approximate one, and a per-second one with the real skew set say nothing', async () => {
  assert.equal(await startLines([
    { name: 'rpm', limit: 600, windowMs: 60_000, mode: 'strict' },
    { name: 'rps', limit: 100, windowMs: 1_000 },
  ]), []);
  assert.equal(await startLines([{ name: 'rps', limit: 100, windowMs: 1_000, mode: 'strict' }], { maxClockSkewMs: 20 }), []);
});

landing.run();
