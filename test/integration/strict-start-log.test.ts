// A node on NATS with strict limits says at start what holds without a fixed voter set and without
// the books on disk (docs/strict-limits.md), and says nothing of either once both are set.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';
import { startNode } from '../support/nodes.ts';

const startLog = suite('strict limits: what holds is said at start', { timeoutMs: 60_000 });
let nats: NatsCluster;
const dir = mkdtempSync(join(tmpdir(), 'sluice-start-log-'));

startLog.before(async () => { nats = await startNatsCluster(1); });
startLog.after(async () => { await nats.close(); rmSync(dir, { recursive: true, force: true }); });

async function startLines(cluster: Record<string, unknown>): Promise<string[]> {
  const lines: string[] = [];
  const node = await startNode({
    node: { id: 'a' }, cluster: { name: 'startlog', ...cluster }, nats: { servers: nats.urls },
    targets: [{ name: 'api', prefix: '/api', replicas: ['http://127.0.0.1:9'], limits: [{ name: 'rpm', limit: 600, windowMs: 60_000, mode: 'strict' }] }],
  }, { log: (line) => lines.push(line) });
  await node.stop();
  return lines.filter((l) => l.startsWith('strict limits without'));
}

startLog('without cluster.voters and cluster.booksDir: both are said', async () => {
  const lines = await startLines({});
  assert.ok(lines.some((l) => l.includes('without cluster.voters')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('without cluster.booksDir') && l.includes('one at a time')), lines.join('\n'));
});

startLog('with both set: neither; the voter keeps its copy in <booksDir>/<node id>.books.jsonl', async () => {
  assert.equal(await startLines({ voters: ['a'], booksDir: join(dir, 'books') }), []);
  const file = join(dir, 'books', 'a.books.jsonl');
  assert.ok(existsSync(file), 'the books file was made, its directory too');
  assert.match(readFileSync(file, 'utf8').split('\n')[0]!, /"node":"a"/);
});

startLog.run();
