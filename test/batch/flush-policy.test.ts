import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { decideWithGuards, guard, timerPolicy } from '../../src/batch/flush-policy.ts';
import type { FlushFeatures, FlushPolicy } from '../../src/batch/flush-policy.ts';

const features = (over: Partial<FlushFeatures> = {}): FlushFeatures => ({
  queueDepth: 1, arrivalRatePerMs: 0, slotAgeMs: 0, upstreamP99Ms: 100, maxWaitMs: 20, maxBatchSize: 8, ...over,
});
const alwaysWait: FlushPolicy = { name: 'wait', decide: () => 'WAIT' };
const alwaysServe: FlushPolicy = { name: 'serve', decide: () => 'SERVE' };

const guards = suite('flush guards');

guards('a full slot serves whatever the policy says, named size', () => {
  assert.is(guard(features({ queueDepth: 8 })), 'size');
  assert.is(guard(features({ queueDepth: 9 })), 'size');
  assert.is(decideWithGuards(alwaysWait, features({ queueDepth: 8 })), 'SERVE');
  assert.is(decideWithGuards(alwaysWait, features({ queueDepth: 7 })), 'WAIT');
});

guards('a slot at maxWaitMs serves whatever the policy says, named timer', () => {
  assert.is(guard(features({ slotAgeMs: 20 })), 'timer');
  assert.is(decideWithGuards(alwaysWait, features({ slotAgeMs: 20 })), 'SERVE');
  assert.is(decideWithGuards(alwaysWait, features({ slotAgeMs: 19.9 })), 'WAIT');
});

guards('below both guards the policy decides', () => {
  assert.is(guard(features()), undefined);
  assert.is(decideWithGuards(alwaysServe, features()), 'SERVE');
  assert.is(decideWithGuards(alwaysWait, features()), 'WAIT');
});

guards('the policy is not consulted once a guard holds', () => {
  let asked = 0;
  const counting: FlushPolicy = { name: 'count', decide: () => { asked += 1; return 'WAIT'; } };
  decideWithGuards(counting, features({ queueDepth: 8 }));
  assert.is(asked, 0);
});

guards.run();

const timer = suite('timer flush policy');

timer('waits until a guard holds, and only then serves', () => {
  assert.is(timerPolicy.name, 'timer');
  for (let age = 0; age < 20; age += 1) assert.is(decideWithGuards(timerPolicy, features({ slotAgeMs: age, arrivalRatePerMs: 5 })), 'WAIT');
  assert.is(decideWithGuards(timerPolicy, features({ slotAgeMs: 20 })), 'SERVE');
  assert.is(decideWithGuards(timerPolicy, features({ queueDepth: 8 })), 'SERVE');
});

timer.run();
