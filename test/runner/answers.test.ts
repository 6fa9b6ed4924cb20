// The oracles the cluster tests lean on must themselves fail when they should.
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { AnswerLedger } from '../support/answers.ts';
import { approximateOverAdmission, strictSuccessorWithinMs } from '../support/documented-bounds.ts';

const oracles = suite('test oracles');

const fails = (fn: () => void): boolean => { try { fn(); return false; } catch { return true; } };

oracles('the answer ledger fails on a request with no answer, and on one answered twice', async () => {
  const ok = new AnswerLedger();
  await ok.track(Promise.resolve(1));
  await ok.track(Promise.reject(new Error('refused'))).catch(() => {});
  ok.assertEachAnsweredOnce();

  const lost = new AnswerLedger();
  void lost.track(new Promise(() => {}));
  assert.is(lost.unanswered, 1);
  assert.ok(fails(() => lost.assertEachAnsweredOnce()));

  const twice = new AnswerLedger();
  const answer = twice.open();
  answer(); answer();
  assert.is(twice.answeredMoreThanOnce, 1);
  assert.ok(fails(() => twice.assertEachAnsweredOnce()));

  assert.ok(fails(() => new AnswerLedger().assertEachAnsweredOnce()), 'an empty ledger proves nothing');
});

oracles('the over-admission bound follows docs/limits.md: 1 000 req/s at syncMs 100 and 1 ms on the bus is 101', () => {
  // The table in docs/limits.md: "1 000 req/s … ≈ 101 requests, one lost delta ≈ 201".
  assert.is(Math.round(approximateOverAdmission({ ratesPerMs: [0.5, 0.25, 0.25], syncMs: 100, busDelayMs: 1 })), 101);
  assert.is(Math.round(approximateOverAdmission({ ratesPerMs: [1], syncMs: 100, busDelayMs: 1, lostInARow: 1 })), 201);
});

oracles('the strict failover bound follows docs/strict-limits.md: 5 s at the defaults, 500 ms at heartbeatMs 100', () => {
  assert.is(strictSuccessorWithinMs(1_000), 5_000);
  assert.is(strictSuccessorWithinMs(100), 500);
});

oracles.run();
