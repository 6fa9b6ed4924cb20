// Fault test of issue #7, end to end through the gateway on a virtual clock: three replicas, one
// answering 500s from the start and one that starts hanging mid-run. Every client request gets
// exactly one answer; none waits past its deadline (the target's timeoutMs, on the node's clock);
// once both breakers are open the healthy replica serves everything.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { Agent, request } from 'undici';
import { VirtualClock } from '../../src/clock.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';

const TIMEOUT_MS = 20_000; // virtual; undici's own timers (real time) never get near it in this test

const faults = suite('dispatch under replica faults');
const clock = new VirtualClock(Date.now());
const agent = new Agent({ connections: 64 });
let healthy: UpstreamStub;
let hanging: UpstreamStub;
let failing: UpstreamStub;
let node: SluiceNode;
/** Answers of the hanging replica, held until the test ends. */
const held: Array<() => void> = [];
let hangs = false;
let onHeld = (): void => {};

/** A small LCG so the run is the same every time. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1_103_515_245 + 12_345) % 2 ** 31; return s / 2 ** 31; };
}

faults.before(async () => {
  healthy = await UpstreamStub.start((_r, res) => { res.writeHead(200); res.end('healthy'); });
  hanging = await UpstreamStub.start((_r, res) => {
    if (!hangs) { res.writeHead(200); res.end('hanging'); return; }
    held.push(() => res.destroy());
    onHeld();
  });
  failing = await UpstreamStub.start((_r, res) => { res.writeHead(500); res.end('failing'); });
  node = await startNode({
    node: { id: 'faults' },
    targets: [{
      name: 'f', prefix: '/f', replicas: [healthy.url, hanging.url, failing.url], timeoutMs: TIMEOUT_MS, batch: { mode: 'none' },
      breaker: { consecutiveFailures: 3, openMs: 600_000, maxOpenMs: 600_000 },
      retry: { attempts: 2, baseMs: 10 },
      dispatch: { concurrency: 8, queue: 16 },
    }],
  }, { clock, random: seeded(7) });
});
faults.after(async () => {
  for (const release of held) release();
  await node.stop();
  await Promise.all([healthy.close(), hanging.close(), failing.close(), agent.close()]);
});

let sent = 0;
interface Answer { status: number; body: string; code?: string }

async function get(): Promise<Answer> {
  const r = await request(`${node.url}/f/r${sent++}`, { dispatcher: agent });
  const body = await r.body.text();
  return { status: r.statusCode, body, ...(r.statusCode >= 500 && body.startsWith('{') ? { code: (JSON.parse(body) as { code: string }).code } : {}) };
}

const breakerOf = (url: string) => {
  const state = node.targets.get('f')!.dispatch.describe() as { replicas: Array<{ replica: string; breaker: string }> };
  return state.replicas.find((r) => r.replica === url)!.breaker;
};

/**
 * Sends `n` requests at once and resolves when each is either answered or held by the hanging
 * replica; then moves the clock to their deadline and returns every answer.
 */
async function wave(n: number): Promise<Answer[]> {
  let answered = 0;
  const heldBefore = held.length;
  let resolveSettled!: () => void;
  const settled = new Promise<void>((r) => { resolveSettled = r; });
  const check = (): void => { if (answered + held.length - heldBefore === n) resolveSettled(); };
  onHeld = check;
  const answers = Array.from({ length: n }, () => get().finally(() => { answered++; check(); }));
  await settled;
  const answeredBeforeDeadline = answered;
  clock.advance(TIMEOUT_MS);
  const all = await Promise.all(answers);
  assert.is(all.filter((a) => a.code === 'SLUICE_UPSTREAM_TIMEOUT').length, n - answeredBeforeDeadline,
    'exactly the held requests were answered at their deadline, as 504');
  return all;
}

faults('every request is answered once, none past its deadline, and the healthy replica serves the rest', async () => {
  // Before the fault: the failing replica answers 500 until its breaker opens.
  const before = (await wave(12)).concat(await wave(12));
  assert.ok(before.every((a) => [200, 500].includes(a.status)));
  assert.is(breakerOf(failing.url), 'open');
  const failingCalls = failing.calls;
  assert.ok(failingCalls >= 3 && failingCalls <= 5, `${failingCalls} calls reached the failing replica`);

  // Mid-run the second replica starts hanging; its calls end at the deadline until its breaker opens.
  hangs = true;
  let waves = 0;
  while (breakerOf(hanging.url) !== 'open') {
    assert.ok(++waves <= 10, 'the hanging replica\'s breaker opens within ten waves');
    const answers = await wave(9);
    assert.ok(answers.every((a) => a.status === 200 || a.code === 'SLUICE_UPSTREAM_TIMEOUT'), JSON.stringify(answers));
  }
  assert.ok(held.length >= 3);

  // Both breakers open: the healthy replica serves everything, the others see nothing more.
  const [hangingCalls, healthyCalls] = [hanging.calls, healthy.calls];
  const after = await wave(15);
  assert.ok(after.every((a) => a.status === 200 && a.body === 'healthy'));
  assert.equal([healthy.calls - healthyCalls, hanging.calls - hangingCalls, failing.calls - failingCalls], [15, 0, 0]);

  // Exactly one answer per request: the gateway counted as many answers as requests were sent.
  const counted = (await node.metrics.requests.get()).values.filter((v) => v.labels.target === 'f').reduce((sum, v) => sum + v.value, 0);
  assert.is(counted, sent);
});

faults.run();
