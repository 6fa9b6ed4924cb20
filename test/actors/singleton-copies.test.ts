// Voters' copies of the strict books sent in parts (src/actors/singleton-copies.ts, issue #12): a
// candidate counts a copy only when every part of one snapshot has arrived, in any order; a copy
// missing a part, or with a malformed one, is never counted. Then the same over LocalBus with real
// singletons: a voter whose parts are lost is left out of the takeover, and the holding still starts.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../../src/clock.ts';
import type { Json } from '../../src/bus/bus.ts';
import { LocalNetwork } from '../../src/bus/local-bus.ts';
import { Membership } from '../../src/actors/membership.ts';
import { Singleton, singletonTimings } from '../../src/actors/singleton.ts';
import { CopyAssembler, MAX_COPY_PARTS, outgoingCopy, parseBallotParts, parseCopyPart, type CopyPart } from '../../src/actors/singleton-copies.ts';
import type { BookEntry } from '../../src/limit/strict-books.ts';

const copies = suite('vote copies in parts');

const entry = (i: number, node = 'n'): BookEntry => ({ key: `t/rps/client-${i}`, windowId: 7, limit: 10, windowMs: 1_000, node, received: 1 + (i % 3), returned: 0 });
const many = (n: number, node = 'n') => Array.from({ length: n }, (_, i) => entry(i, node));
const ID = { voter: 'b', candidate: 'a', term: 3, copy: 'x.1' };
const META = { upSince: 5 };

/** A copy as it leaves the voter: the ballot's fields and the part messages, parsed as the candidate will. */
function send(entries: BookEntry[], maxChars: number, id = ID) {
  const out = outgoingCopy(entries, maxChars, id)!;
  const shape = parseBallotParts(out.ballot)!;
  const first = out.ballot.books as unknown as BookEntry[];
  const rest = out.rest.map((m) => parseCopyPart(JSON.parse(JSON.stringify(m)) as Json)!);
  return { out, shape, first, rest };
}

copies('a copy that fits one message goes whole in the ballot, with the fields ballots always had', () => {
  const out = outgoingCopy(many(3), 10_000, ID)!;
  assert.equal(Object.keys(out.ballot), ['books']);
  assert.equal(out.rest, []);
  const a = new CopyAssembler<typeof META>();
  const got = a.ballot(3, 'b', parseBallotParts(out.ballot)!, many(3), META);
  assert.equal(got, { type: 'whole', voter: 'b', entries: many(3), meta: META });
});

copies('a large copy is whole only once every part arrived, in any order, ballot first or last', () => {
  const entries = many(400);
  const { out, shape, first, rest } = send(entries, 4_000);
  assert.ok(rest.length >= 5, `${rest.length + 1} parts`);
  for (const m of out.rest) assert.ok(JSON.stringify((m as { entries: Json }).entries).length <= 4_000);
  for (const ballotAt of [0, 2, rest.length]) {
    const a = new CopyAssembler<typeof META>();
    a.reset(3);
    const order = [...rest].reverse();
    const outcomes: string[] = [];
    order.forEach((p, i) => {
      if (i === ballotAt) outcomes.push(a.ballot(3, 'b', shape, first, META).type);
      outcomes.push(a.part(p).type);
    });
    if (ballotAt === rest.length) outcomes.push(a.ballot(3, 'b', shape, first, META).type);
    assert.ok(outcomes.slice(0, -1).every((t) => t === 'waiting'), `${outcomes}`);
    assert.is(outcomes.at(-1), 'whole');
    assert.is(a.waiting(), false);
  }
  const a = new CopyAssembler<typeof META>();
  a.reset(3);
  for (const p of rest) a.part(p);
  const whole = a.ballot(3, 'b', shape, first, META);
  assert.equal(whole, { type: 'whole', voter: 'b', entries, meta: META }, 'the parts make the snapshot again, in order');
  assert.is(a.part(rest[0]!).type, 'ignored', 'a late duplicate of a counted copy changes nothing');
});

copies('a copy missing a part is never counted; the ballot without its parts leaves the candidate waiting', () => {
  const { shape, first, rest } = send(many(400), 4_000);
  const a = new CopyAssembler<typeof META>();
  a.reset(3);
  assert.is(a.ballot(3, 'b', shape, first, META).type, 'waiting');
  assert.ok(a.waiting());
  for (const p of rest.slice(1)) assert.is(a.part(p).type, 'waiting');
  for (const p of rest.slice(1)) assert.is(a.part(p).type, 'waiting', 'a duplicate does not stand in for the missing part');
  assert.ok(a.waiting());
  a.reset(4);
  assert.not.ok(a.waiting(), 'a new term drops what was kept');
  assert.is(a.part(rest[0]!).type, 'ignored', 'parts of another term are not kept');
});

copies('parts of two snapshots of one voter never mix', () => {
  const older = send(many(400), 4_000, { ...ID, copy: 'x.1' });
  const newer = send(many(400).map((e) => ({ ...e, received: e.received + 5 })), 4_000, { ...ID, copy: 'x.2' });
  const a = new CopyAssembler<typeof META>();
  a.reset(3);
  a.ballot(3, 'b', older.shape, older.first, META);
  a.ballot(3, 'b', newer.shape, newer.first, META);
  // Every part of the older snapshot but its last, every part of the newer one but its first.
  for (const p of older.rest.slice(0, -1)) assert.is(a.part(p).type, 'waiting');
  for (const p of newer.rest.slice(1)) assert.is(a.part(p).type, 'waiting');
  const whole = a.part(newer.rest[0]!);
  assert.is(whole.type, 'whole');
  assert.ok(whole.type === 'whole' && whole.entries.every((e) => e.received > 5), 'only the newer snapshot');
});

copies('malformed parts are rejected: fields, counts, entries; a part count that changes spoils the copy', () => {
  const { shape, first, rest } = send(many(400), 4_000);
  const part = JSON.parse(JSON.stringify(outgoingCopy(many(400), 4_000, ID)!.rest[0])) as Record<string, Json>;
  assert.ok(parseCopyPart(part));
  const bad: Array<Record<string, Json>> = [
    { ...part, voter: '' }, { ...part, candidate: 5 }, { ...part, term: 0 }, { ...part, copy: 'y'.repeat(65) },
    { ...part, part: 0 }, { ...part, part: part.parts as number }, { ...part, parts: 1 }, { ...part, parts: MAX_COPY_PARTS + 1 },
    { ...part, entries: [{ key: 'k' }] }, { ...part, entries: 'no' },
  ];
  for (const b of bad) assert.is(parseCopyPart(b), undefined, JSON.stringify({ ...b, entries: undefined }));
  assert.is(parseCopyPart([] as Json), undefined);
  assert.is(parseBallotParts({ parts: 3 }), undefined, 'parts without a snapshot id');
  assert.is(parseBallotParts({ parts: 1.5, copy: 'x' }), undefined);
  assert.is(parseBallotParts({ copy: 'x' }), undefined);
  const a = new CopyAssembler<typeof META>();
  a.reset(3);
  a.ballot(3, 'b', shape, first, META);
  const wrong: CopyPart = { ...rest[0]!, parts: shape.parts + 1 };
  assert.is(a.part(wrong).type, 'malformed');
  for (const p of rest) assert.is(a.part(p).type, 'ignored', 'the spoilt copy is never counted');
  assert.not.ok(a.waiting());
});

copies('a copy of more than MAX_COPY_PARTS parts is not sent (the vote goes without it)', () => {
  assert.is(outgoingCopy(many(MAX_COPY_PARTS + 1), 10, ID), undefined);
});

// ---- over LocalBus, real singletons ----

const CLUSTER = { heartbeatMs: 100, deadAfterMs: 500 };
const TIMINGS = singletonTimings(CLUSTER);

/** Three nodes; n01 and n02 hold large books; `lost` voters' part messages never arrive. */
function cluster(lost: string[]) {
  const clock = new VirtualClock(1_000_000);
  const network = new LocalNetwork(clock, { delayMs: (from, _to, subject) => (lost.includes(from) && subject.includes('.singleton.copy.') ? 1e12 : 1) }, { maxPayloadChars: 8_000 });
  const windowId = Math.floor(clock.now() / 60_000);
  const nodes = ['n00', 'n01', 'n02'].map((id) => {
    const bus = network.connect(id);
    const membership = new Membership(bus, clock, { nodeId: id, cluster: 'c', ...CLUSTER });
    const singleton = new Singleton(bus, clock, membership, { nodeId: id, cluster: 'c', ...TIMINGS, partChars: 2_000 });
    if (id !== 'n00') singleton.books.merge(many(200, id).map((e) => ({ ...e, windowId, windowMs: 60_000 })));
    // As the strict server does: the takeover is taken the moment the holding starts.
    singleton.onChange(() => { if (singleton.session()) singleton.takeover(); });
    membership.start();
    singleton.start();
    return singleton;
  });
  /** Runs until n00 has held for a round; returns when it won (its lease) and when its holding started. */
  const elect = () => {
    let wonAt: number | undefined;
    let startedAt: number | undefined;
    for (let t = 0; t < TIMINGS.graceMs + 4 * TIMINGS.renewMs; t++) {
      c.clock.advance(1);
      if (wonAt === undefined && nodes[0]!.holder()?.id === 'n00') wonAt = c.clock.now();
      if (startedAt === undefined && nodes[0]!.session()) startedAt = c.clock.now();
    }
    assert.ok(wonAt !== undefined && startedAt !== undefined, 'n00 won and held');
    return { wonAt, startedAt };
  };
  const c = { clock, network, nodes, elect };
  return c;
}

const seedNodes = (s: Singleton) => new Set(s.takeover()!.seed.map((e) => e.node));

copies('over LocalBus: the candidate continues from its quorum\'s copies when all parts arrive', () => {
  const c = cluster([]);
  const { wonAt, startedAt } = c.elect();
  const [a] = c.nodes;
  assert.ok(startedAt - wonAt <= 5, `the holding started ${startedAt - wonAt} ms after the win: the parts came with the ballots`);
  // n00's quorum is itself and the voter whose ballot came first: that voter's whole copy.
  const perVoter = ['n01', 'n02'].map((id) => a!.takeover()!.seed.filter((e) => e.node === id).length);
  assert.ok(perVoter.includes(200) && perVoter.every((n) => n === 0 || n === 200), `whole copies only (${perVoter})`);
  assert.ok(a!.takeover()!.copies >= 2, `a quorum of copies (${a!.takeover()!.copies})`);
  assert.is(c.network.oversized, 0);
  assert.is(a!.malformed, 0);
});

copies('over LocalBus: a voter whose parts are lost is left out of the takeover; the holding starts anyway, one round late at most', () => {
  const c = cluster(['n01']);
  const { wonAt, startedAt } = c.elect();
  const [a] = c.nodes;
  assert.ok(startedAt - wonAt <= TIMINGS.renewMs, `the holding started ${startedAt - wonAt} ms after the win`);
  assert.equal([...seedNodes(a!)], ['n02'], 'only n02\'s copy, the whole one');
});

copies('over LocalBus: with every voter\'s parts lost, the takeover has fewer copies than a quorum (a successor fences: docs/strict-limits.md)', () => {
  const c = cluster(['n01', 'n02']);
  const { wonAt, startedAt } = c.elect();
  const [a] = c.nodes;
  assert.ok(startedAt - wonAt <= TIMINGS.renewMs, `the election did not wait for books: started ${startedAt - wonAt} ms after the win`);
  assert.is(a!.takeover()!.seed.length, 0);
  // Only its own: with fewer than a quorum of copies no window counts as complete (a cold start like
  // this one fences nothing anyway: nobody held before, so nothing was granted).
  assert.is(a!.takeover()!.copies, 1);
});

copies('over LocalBus: malformed part messages are dropped and counted, never thrown', () => {
  const c = cluster([]);
  const rogue = c.network.connect('rogue');
  for (const d of [null, 'x', [], { voter: 'b' }, { voter: 'b', candidate: 'n00', term: 1, copy: 'z', part: 1, parts: 2, entries: [{}] }] as Json[]) rogue.publish('sluice.c.singleton.copy.n00', d);
  rogue.publish('sluice.c.singleton.copy.n00', { voter: 'b', candidate: 'n01', term: 1, copy: 'z', part: 1, parts: 2, entries: [] });
  c.clock.advance(5);
  assert.is(c.nodes[0]!.malformed, 6);
});

copies.run();
