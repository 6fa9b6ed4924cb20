import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../../src/errors.ts';
import { Election } from '../../src/cluster/election.ts';
import type { ElectionOptions, VoteRequest } from '../../src/cluster/election-types.ts';

const election = suite('election');

const opts = (self: string, o: Partial<ElectionOptions> = {}): ElectionOptions =>
  ({ self, leaseMs: 3_000, renewMs: 1_000, graceMs: 0, forgetAfterMs: 60_000, startedAt: 0, ...o });

/** Three nodes that know each other; messages are handed over by the test. */
function trio(o: Partial<ElectionOptions> = {}) {
  const [a, b, c] = ['a', 'b', 'c'].map((id) => new Election(opts(id, o))) as [Election, Election, Election];
  for (const e of [a, b, c]) e.setMembers(0, ['a', 'b', 'c']);
  return { a, b, c };
}

/** Delivers `req` to `voters` at `now` and its replies back to the candidate. */
function deliver(candidate: Election, req: VoteRequest, voters: Election[], now: number): void {
  for (const v of voters) candidate.onVoteReply(v.onVoteRequest(req, now), now);
}

election('a node alone holds on its first tick: it is a majority of one', () => {
  const e = new Election(opts('solo'));
  assert.ok(e.tick(0));
  assert.ok(e.holding(0));
  assert.equal(e.view(0), { id: 'solo', term: 1 });
  assert.equal(e.session(0), { term: 1, acquiredAt: 0, predecessorKnown: false });
});

election('only the lowest live id stands; it holds once a second vote arrives', () => {
  const { a, b, c } = trio();
  assert.is(b.tick(0), undefined);
  assert.is(c.tick(0), undefined);
  const req = a.tick(0)!;
  assert.equal(req, { candidate: 'a', term: 1, round: 1, books: true }, 'a candidate asks for the voters\' copies of the books');
  assert.not.ok(a.holding(0), 'its own vote is one of three');
  deliver(a, req, [b], 10);
  assert.ok(a.holding(10));
  // The lease counts from when the round was sent, a margin short of the voters' promises.
  assert.is(a.leaseEndsAt, 3_000 - 60);
});

election('a voter backs no other candidate while its promise lasts, and one candidate per term ever', () => {
  const { a, b, c } = trio();
  deliver(a, a.tick(0)!, [b], 0);
  // c suspects nothing, but pretend it stands (its view differs): b refuses while promised to a.
  const rival: VoteRequest = { candidate: 'c', term: 2, round: 1 };
  assert.not.ok(b.onVoteRequest(rival, 2_999).granted);
  assert.ok(b.onVoteRequest(rival, 3_000).granted, 'the promise to a ran out at 3000');
  // Term 2 now belongs to c at b: a rival for the same term is refused even with no live promise.
  assert.not.ok(b.onVoteRequest({ candidate: 'a', term: 2, round: 9 }, 7_000).granted);
  assert.not.ok(c.holding(3_000));
});

election('the holder lease ends before any voter could back a successor', () => {
  const { a, b, c } = trio();
  const req = a.tick(0)!;
  a.onVoteReply(b.onVoteRequest(req, 5), 5); // b heard it 5 ms after it was sent
  const end = a.leaseEndsAt;
  assert.ok(end <= 3_000 && end > 2_000);
  // No candidate can collect b's vote before b's promise (5 + 3000) runs out: later than a's lease.
  assert.not.ok(b.onVoteRequest({ candidate: 'c', term: 2, round: 1 }, end).granted);
  void c;
});

election('a holder whose renewals fail lapses at the lease end; regaining its term keeps the session', () => {
  const { a, b } = trio();
  deliver(a, a.tick(0)!, [b], 0);
  const first = a.session(0)!;
  a.tick(1_000); // renewal lost
  a.tick(2_000); // lost
  assert.ok(a.holding(2_939));
  assert.not.ok(a.holding(2_940), 'lapsed');
  assert.is(a.view(2_940), undefined);
  deliver(a, a.tick(3_000)!, [b], 3_000);
  assert.equal(a.session(3_000), first, 'same term, same ledger: nobody else could have held in between');
});

election('a successor knows it had a predecessor; the first holder of a fresh cluster does not', () => {
  const { a, b, c } = trio();
  deliver(a, a.tick(0)!, [b], 0);
  assert.not.ok(a.session(0)!.predecessorKnown);
  b.onAnnouncement(a.announcement(0)!, 0);
  c.onAnnouncement(a.announcement(0)!, 0);
  // a crashes. At 2940 its announcement lapses at b and c; b is the lowest id not suspected.
  assert.is(b.tick(2_999), undefined, 'no candidacy while its own promise to a lasts');
  assert.is(c.tick(3_000), undefined, 'c defers to b, the lowest id not suspected');
  const req = b.tick(3_000)!;
  assert.equal(req.term, 2);
  deliver(b, req, [c], 3_000);
  // The voters' promises to a ran out at 3000: a's lease had surely ended by then.
  assert.equal(b.session(3_000), { term: 2, acquiredAt: 3_000, predecessorKnown: true, predecessorEndedBy: 3_000 });
});

election("the successor bounds its predecessor's lease end by its voters' earlier promises, not its own takeover", () => {
  const { a, b, c } = trio();
  deliver(a, a.tick(0)!, [b, c], 0);
  b.onAnnouncement(a.announcement(0)!, 0);
  c.onAnnouncement(a.announcement(0)!, 0);
  // a crashes at once. b stands well after the promises ran out (at 3000): the fence needs only reach 3000.
  b.tick(2_999);
  c.tick(2_999);
  const req = b.tick(5_000)!;
  deliver(b, req, [c], 5_000);
  assert.equal(b.session(5_000)?.predecessorEndedBy, 3_000);
});

election('ties break by id: the higher id withdraws when it sees the lower one stand for the same term', () => {
  const a = new Election(opts('a'));
  const b = new Election(opts('b'));
  a.setMembers(0, ['a']); // views differ: each thinks it is the lowest
  b.setMembers(0, ['b']);
  a.setMembers(0, ['a', 'b', 'c']);
  b.setMembers(0, ['b', 'c']);
  const reqA = a.tick(0)!;
  const reqB = b.tick(0)!;
  assert.is(reqA.term, reqB.term);
  const toA = b.onVoteRequest(reqA, 1);
  assert.is(b.standingTerm, 0, 'b gave up');
  assert.not.ok(a.onVoteRequest(reqB, 1).granted, 'a keeps standing and refuses b');
  // b released its own promise when it withdrew, but it already promised term 1 to itself.
  assert.not.ok(toA.granted);
  deliver(a, a.tick(1_000)!, [b], 1_000);
  assert.is(b.standingTerm, 0);
});

election('during its grace a node neither stands nor votes, except to renew the holder it hears', () => {
  const a = new Election(opts('a'));
  const late = new Election(opts('b', { graceMs: 4_000, startedAt: 1_000 }));
  a.setMembers(0, ['a']);
  assert.ok(a.tick(0));
  late.setMembers(1_000, ['a', 'b']);
  a.setMembers(1_000, ['a', 'b']);
  assert.is(late.tick(1_000), undefined);
  assert.not.ok(late.onVoteRequest({ candidate: 'c', term: 5, round: 1 }, 1_100).granted);
  late.onAnnouncement(a.announcement(1_000)!, 1_000);
  deliver(a, a.tick(1_500)!, [late], 1_500);
  assert.ok(a.holding(4_000), 'renewed by the newcomer: two of two');
});

election('a member that said goodbye stops counting toward the quorum; a silent one after forgetAfterMs', () => {
  const e = new Election(opts('a', { forgetAfterMs: 10_000 }));
  e.setMembers(0, ['a', 'b', 'c', 'd']);
  assert.is(e.quorum(), 3);
  e.memberLeft('d');
  assert.is(e.quorum(), 2);
  e.setMembers(5_000, ['a']);
  assert.is(e.quorum(), 2, 'b and c are silent but still count');
  e.setMembers(10_001, ['a']);
  assert.is(e.quorum(), 1);
});

election('a resigning holder releases its voters at once', () => {
  const { a, b, c } = trio();
  deliver(a, a.tick(0)!, [b, c], 0);
  const r = a.resign(500)!;
  assert.not.ok(a.holding(500));
  b.onResign(r.holder, r.term, 500);
  c.onResign(r.holder, r.term, 500);
  const req = b.tick(500)!;
  deliver(b, req, [c], 500);
  assert.ok(b.holding(500));
});

election('bad timings are rejected with InvalidArgumentError', () => {
  for (const o of [{ renewMs: 2_000 }, { leaseMs: 0 }, { graceMs: -1 }, { self: '' }, { driftMarginMs: 2_500 }]) {
    try { new Election(opts('a', o)); assert.unreachable(JSON.stringify(o)); }
    catch (e) { assert.is((e as { code?: string }).code, ErrorCode.InvalidArgument, JSON.stringify(o)); }
  }
});

election.run();
