// Integration (real nats-server): `sluice agent` started as the README says answers a node's
// `policy: agent` asks over NATS; once it is killed, the node's asks fall back to the guards and
// are counted.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NatsBus } from '../../src/bus/nats-bus.ts';
import { FlushDecision, type FlushFeatures } from '../../src/batch/index.ts';
import { createAgentPolicy } from '../../src/actors/batching/agent-policy.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const agentSuite = suite('sluice agent over a real NATS server', { timeoutMs: 45_000 });
let cluster: NatsCluster;
let bus: NatsBus;
let agent: ChildProcess | undefined;

const features = (slotAgeMs: number): FlushFeatures => ({
  queueDepth: 2, arrivalRatePerMs: 0.5, slotAgeMs, upstreamP99Ms: 100, maxWaitMs: 100, maxBatchSize: 64,
});

agentSuite.before(async () => {
  cluster = await startNatsCluster(1);
  bus = await NatsBus.connect({ servers: cluster.urls, name: 'node' });
});
agentSuite.after(async () => {
  agent?.kill('SIGKILL');
  await bus.close();
  await cluster.close();
});

agentSuite('answers WAIT for a young slot and SERVE for an old one; after it dies the node falls back and counts', async () => {
  agent = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--nats', cluster.urls.join(','), '--cluster', 'pa'], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    agent!.stderr!.on('data', (d) => { err += d; if (err.includes('answering')) resolve(); });
    agent!.once('exit', (code) => reject(new Error(`sluice agent exited with ${code}: ${err}`)));
  });
  const fallbacks: string[] = [];
  const policy = createAgentPolicy({ bus, cluster: 'pa', target: 'llm', timeoutMs: 500, onFallback: (r) => fallbacks.push(r) });
  // The agent's subscription reaches the server asynchronously: ask until it answers (bounded).
  let young: FlushDecision = FlushDecision.Wait;
  for (let i = 0; i < 40; i++) {
    fallbacks.length = 0;
    young = await policy.decide(features(0.1));
    if (fallbacks.length === 0) break;
  }
  assert.equal(fallbacks, [], 'the agent answered');
  assert.is(young, FlushDecision.Wait);
  assert.is(await policy.decide(features(99)), FlushDecision.Serve);
  agent.kill('SIGKILL');
  await new Promise((resolve) => agent!.once('exit', resolve));
  let last: FlushDecision = FlushDecision.Serve;
  for (let i = 0; i < 40 && fallbacks.length === 0; i++) last = await policy.decide(features(99));
  assert.is(last, FlushDecision.Wait); // no agent: WAIT, and the guards serve the slot
  assert.ok(fallbacks.length >= 1 && fallbacks.every((r) => r === 'no-responders' || r === 'timeout'), String(fallbacks));
});

agentSuite.run();
