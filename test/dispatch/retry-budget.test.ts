import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createRetryBudget, recordCall, retriesLeft, tryWithdraw } from '../../src/dispatch/retry-budget.ts';
import type { RetryBudget } from '../../src/dispatch/retry-budget.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

function calls(b: RetryBudget, n: number, now: number): RetryBudget {
  for (let i = 0; i < n; i++) b = recordCall(b, now);
  return b;
}

function drain(b: RetryBudget, now: number): { granted: number; b: RetryBudget } {
  let granted = 0;
  for (;;) {
    const r = tryWithdraw(b, now);
    if (!r.ok) return { granted, b };
    granted++;
    b = r.next;
  }
}

const budget = suite('retry budget');

budget('allows `ratio` retries per first try on top of the reserve', () => {
  let b = createRetryBudget({ ratio: 0.2, minPerSecond: 0 });
  b = calls(b, 100, 1_000);
  assert.is(retriesLeft(b, 1_000), 20);
  assert.is(drain(b, 1_000).granted, 20);
});

budget('a quiet target may still retry its reserve of minPerSecond over the window', () => {
  const b = createRetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 });
  assert.is(drain(b, 0).granted, 10);
});

budget('a refused withdrawal leaves the budget as it was', () => {
  const b = createRetryBudget({ ratio: 0, minPerSecond: 0 });
  const r = tryWithdraw(b, 0);
  assert.is(r.ok, false);
  assert.is(r.next, b);
});

budget('calls and retries older than the window stop counting', () => {
  let b = createRetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000 });
  b = calls(b, 10, 0);
  const spent = drain(b, 0);
  assert.is(spent.granted, 5);
  assert.is(retriesLeft(spent.b, 9_999), 0);
  assert.is(retriesLeft(calls(spent.b, 10, 10_000), 10_000), 5, 'the old calls and retries left together');
});

budget('grants a retry exactly when ratio × calls + reserve over the window leaves room for it', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ calls: fc.nat(20), retries: fc.nat(20), dt: fc.nat(3_000) }), { maxLength: 40 }),
    fc.integer({ min: 0, max: 10 }).map((n) => n / 10),
    (steps, ratio) => {
      let b = createRetryBudget({ ratio, minPerSecond: 1, windowMs: 10_000 });
      let now = 0;
      const log: { at: number; calls: number; retries: number }[] = [];
      // The window at `now`: the last ten whole seconds, the current one included.
      const inWindow = (at: number) => at >= Math.floor(now / 1_000) * 1_000 - 9_000;
      const sum = (k: 'calls' | 'retries') => log.filter((e) => inWindow(e.at)).reduce((n, e) => n + e[k], 0);
      for (const s of steps) {
        now += s.dt;
        const entry = { at: now, calls: s.calls, retries: 0 };
        log.push(entry);
        b = calls(b, s.calls, now);
        for (let i = 0; i < s.retries; i++) {
          const room = sum('retries') + 1 <= ratio * sum('calls') + 10 + 1e-9;
          const r = tryWithdraw(b, now);
          if (r.ok !== room) return false;
          if (r.ok) { entry.retries++; b = r.next; }
        }
      }
      return true;
    }), { numRuns: 300 });
});

budget('refuses a ratio outside [0, 1]', () => {
  assert.throws(() => createRetryBudget({ ratio: 1.5 }), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => createRetryBudget({ ratio: -0.1 }), (e: unknown) => e instanceof InvalidArgumentError);
});

budget.run();
