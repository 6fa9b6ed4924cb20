// Every bus decoder under random and mutated input: three nodes (membership, singleton election,
// approximate gossip, strict server and clients) on one LocalNetwork and VirtualClock, and a rogue
// endpoint that first records the real traffic on every subject, then sends it back broken: random
// bytes, truncated envelopes, and valid envelopes whose payload fast-check mutated. The oracle:
// - bytes that are no envelope are dropped and counted by the receiving bus (stats.malformed);
// - a valid envelope never makes a subscriber throw (LocalBus counts a throw as malformed too, so
//   malformed must not move for those);
// - nothing escapes as an exception or an unhandled rejection, and afterwards every node still
//   answers each call exactly once. Issue #14.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { suite } from '../support/suite.ts';
import { VirtualClock } from '../../src/clock.ts';
import { LocalNetwork, type LocalBus } from '../../src/bus/local-bus.ts';
import type { Json } from '../../src/bus/bus.ts';
import { decode, encode } from '../../src/bus/envelope.ts';
import type { SluiceNode } from '../../src/node.ts';
import type { ConfiguredLimits } from '../../src/actors/limits/target-limits.ts';
import { startNode } from '../support/nodes.ts';
import { AnswerLedger } from '../support/answers.ts';

const fuzz = suite('bus decoders under random and mutated messages', { timeoutMs: 120_000 });

const drain = () => new Promise<void>((r) => setImmediate(r));
const IDS = ['a', 'b', 'c'];

interface Recorded { subject: string; data: Json; request: boolean }

let clock: VirtualClock;
let network: LocalNetwork;
const buses = new Map<string, LocalBus>();
const nodes: SluiceNode[] = [];
let rogue: LocalBus;
/** Real messages by subject (replies under their inbox), recorded before the fuzz. */
const recorded = new Map<string, Recorded>();
/** The names strict clients lease under, from their sync requests. */
const leaseIds = new Set<string>();
const rejections: unknown[] = [];
const onRejection = (r: unknown) => { rejections.push(r); };

const limitsOf = (n: SluiceNode) => n.targets.get('llm')!.limits as ConfiguredLimits;
const step = async (ms: number) => { for (let i = 0; i < ms; i++) { clock.advance(1); await drain(); } };
const malformed = () => [...buses.values()].reduce((s, b) => s + b.stats.malformed, 0);

fuzz.before(async () => {
  process.on('unhandledRejection', onRejection);
  clock = new VirtualClock(1_700_000_000_000);
  network = new LocalNetwork(clock, { delayMs: () => 1 });
  rogue = network.connect('rogue');
  rogue.subscribe('>', (m) => {
    // One sample per subject: the traffic to replay broken.
    if (!recorded.has(m.subject)) recorded.set(m.subject, { subject: m.subject, data: m.data, request: !!m.respond });
    // Strict clients lease under a name per life (<node>~<start>): their syncs say which.
    const node = (m.data as { node?: unknown } | null)?.node;
    if (/\.strict\.[^.]+\.sync$/.test(m.subject) && typeof node === 'string') leaseIds.add(node);
  });
  for (const id of IDS) {
    const bus = network.connect(id);
    buses.set(id, bus);
    nodes.push(await startNode({
      node: { id },
      cluster: { name: 'fz', heartbeatMs: 100, deadAfterMs: 500, syncMs: 50, maxClockSkewMs: 0 },
      targets: [{
        name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:9'], batch: { mode: 'none' },
        limits: [{ name: 'rpm', limit: 1_000, windowMs: 1_000 }, { name: 'rps', limit: 100, windowMs: 1_000, mode: 'strict' }],
      }],
    }, { clock, bus }));
  }
  // Let membership, the election and gossip run, with calls so strict leases and deltas flow too.
  for (let i = 0; i < 300 && !nodes.every((n) => n.singleton.holder()); i++) await step(10);
  assert.ok(nodes.every((n) => n.singleton.holder()), 'a holder was elected before the fuzz');
  // Demand over the strict limit (100 per window) for two windows: leases, pushes and `exhausted`.
  for (let i = 0; i < 80; i++) {
    for (const n of nodes) void limitsOf(n).admitUpstreamCall({ requests: 1, tokens: 0 }).catch(() => {});
    await step(25);
  }
});

/**
 * Every subject a node subscribes to, each with a real payload to mutate: its own when the recording
 * saw one, else the closest kin's (a goodbye is a heartbeat; a resign names a holder; a lease push is
 * a sync reply, recorded under its inbox).
 */
function targets(holder: string): Recorded[] {
  const sample = (re: RegExp) => [...recorded.values()].find((r) => re.test(r.subject));
  const pick = (subject: string, ...kin: RegExp[]): Recorded => {
    const own = recorded.get(subject);
    if (own) return own;
    const found = kin.map(sample).find(Boolean);
    return { subject, data: found?.data ?? {}, request: false };
  };
  const c = 'sluice.fz.';
  return [
    pick(c + 'members.heartbeat'), pick(c + 'members.goodbye', /members\.heartbeat$/),
    pick(c + 'singleton.vote'), ...IDS.map((id) => pick(`${c}singleton.ballot.${id}`, /singleton\.ballot\./)),
    // Parts of a voter's copy (too large for its ballot): mutated from a ballot, whose copy fields they share.
    ...IDS.map((id) => pick(`${c}singleton.copy.${id}`, /singleton\.copy\./, /singleton\.ballot\./)),
    pick(c + 'singleton.holder'), pick(c + 'singleton.resign', /singleton\.holder$/), pick(c + 'singleton.abstain', /members\.heartbeat$/),
    ...IDS.map((id) => ({ ...pick(`${c}singleton.books.${id}`, /singleton\.books\./), request: true })),
    pick(c + 'limits.gossip'), { ...pick(`${c}strict.${holder}.sync`), request: true },
    pick(c + 'strict.exhausted'), ...[...leaseIds].map((id) => pick(`${c}strict.${id}.lease`, /strict\.[^.]+\.lease$/, /^_INBOX\./)),
  ];
}

fuzz.after(async () => {
  process.off('unhandledRejection', onRejection);
  // Stopping drains on the node's clock: move the virtual clock until every node has stopped.
  let stopped = false;
  const stopping = Promise.all(nodes.map((n) => n.stop())).then(() => { stopped = true; });
  for (let i = 0; i < 100 && !stopped; i++) await step(50);
  await stopping;
});

/** Every path into a JSON value (keys and indexes), the root included. */
function pathsOf(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, k]));
  return out;
}

type Mutation = { op: 'replace'; value: Json } | { op: 'delete' } | { op: 'number'; value: number } | { op: 'string'; value: string };

function mutate(data: Json, pick: number, m: Mutation): Json {
  const copy = JSON.parse(JSON.stringify(data)) as Json;
  const paths = pathsOf(copy);
  const path = paths[pick % paths.length]!;
  const value: Json | undefined = m.op === 'delete' ? undefined : m.op === 'replace' ? m.value : m.value;
  if (path.length === 0) return value ?? null;
  let parent = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = value;
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('replace' as const), value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> }),
  fc.record({ op: fc.constant('delete' as const) }),
  fc.record({ op: fc.constant('number' as const), value: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-1, 0, 2 ** 53, -(2 ** 53), 1e308)) }),
  fc.record({ op: fc.constant('string' as const), value: fc.oneof(fc.string(), fc.constantFrom('', 'a'.repeat(10_000), '__proto__', 'constructor')) }),
);

type Broken =
  | { kind: 'mutated'; pick: number; m: Mutation }
  | { kind: 'random-json'; value: Json }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'truncated'; cut: number }
  | { kind: 'wrong-version'; v: Json };

const broken: fc.Arbitrary<Broken> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('mutated' as const), pick: fc.nat(), m: mutation }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random-json' as const), value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncated' as const), cut: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrong-version' as const), v: fc.oneof(fc.constantFrom(0, 2, '1', null, 1.5), fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>) }) },
);

fuzz('random and mutated messages on every subject are dropped and counted, never thrown', async () => {
  const samples = targets(nodes[0]!.singleton.holder()!.id);
  const seen = samples.filter((s) => recorded.has(s.subject)).map((s) => s.subject.slice('sluice.fz.'.length));
  // What the recording saw on its own: the rest mutate a kin's payload.
  for (const topic of ['members.heartbeat', 'singleton.vote', 'singleton.holder', 'limits.gossip', 'strict.exhausted']) assert.ok(seen.includes(topic), `recorded ${seen.join(', ')}`);
  assert.is(leaseIds.size, IDS.length, `every node's strict client synced: ${[...leaseIds].join(', ')}`);
  let bytesSent = 0;
  let envelopesSent = 0;
  await fc.assert(fc.asyncProperty(fc.nat(), broken, async (which, b) => {
    const sample = samples[which % samples.length]!;
    const before = malformed();
    let bytes: Uint8Array;
    if (b.kind === 'bytes') bytes = b.bytes;
    else if (b.kind === 'truncated') { const full = encode(sample.data); bytes = full.subarray(0, b.cut % full.length); }
    else if (b.kind === 'wrong-version') bytes = new TextEncoder().encode(JSON.stringify({ v: b.v, d: sample.data }));
    else bytes = encode(b.kind === 'random-json' ? b.value : mutate(sample.data, b.pick, b.m));
    const isEnvelope = decode(bytes) !== undefined;
    if (isEnvelope && sample.request) {
      void rogue.request(sample.subject, decode(bytes)!.data, 20).catch(() => {});
    } else {
      rogue.publishRaw(sample.subject, bytes);
    }
    await step(3);
    if (isEnvelope) {
      envelopesSent++;
      assert.is(malformed(), before, `a subscriber of ${sample.subject} threw on ${JSON.stringify(decode(bytes)!.data).slice(0, 200)}`);
    } else {
      bytesSent++;
      assert.ok(malformed() > before, `bytes that are no envelope on ${sample.subject} were not counted`);
    }
  }), { seed: 1414, numRuns: 400 });
  assert.ok(bytesSent > 0 && envelopesSent > 0, `${bytesSent} raw, ${envelopesSent} envelopes`);
  assert.equal(rejections, [], 'no unhandled rejection');
  console.log(`\n    ${bytesSent + envelopesSent} broken messages (${bytesSent} not envelopes) on ${samples.length} subjects; recorded first: ${seen.join(', ')}`);
});

fuzz('after the fuzz every node still answers each call exactly once', async () => {
  const answers = new AnswerLedger();
  for (const n of nodes) for (let i = 0; i < 5; i++) void answers.track(limitsOf(n).admitUpstreamCall({ requests: 1, tokens: 0 }));
  await step(1_000); // a call may wait for a lease or a window; all are decided within it
  answers.assertEachAnsweredOnce('after the fuzz');
  assert.equal(rejections.filter((r) => !(r as { code?: string })?.code), [], 'no unhandled rejection');
});

fuzz.run();
