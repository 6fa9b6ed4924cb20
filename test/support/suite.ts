// uvu's `suite`, with a deadline on every test and hook. uvu awaits each handler with no limit, so a
// regression that never resolves (an awaited event that never comes) would hang the whole run with
// no name on it. Here each handler races a timer: past the deadline it fails with its suite and
// test name, and the run goes on to the next test. The handler itself cannot be cancelled; what it
// left open is the file's `after` hook's business, and scripts/test.sh's watchdog is the last line.
import { suite as uvuSuite, type Callback, type Test } from 'uvu';

/** Per-test deadline unless a suite sets its own; SLUICE_TEST_TIMEOUT_MS overrides it for a run. */
export const DEFAULT_TEST_TIMEOUT_MS = Number(process.env.SLUICE_TEST_TIMEOUT_MS) || 30_000;

export interface SuiteOptions {
  /** How long one test (or one hook) may take, ms. Default DEFAULT_TEST_TIMEOUT_MS. */
  timeoutMs?: number;
}

export class TestTimeoutError extends Error {
  override name = 'TestTimeoutError';
  constructor(readonly what: string, readonly timeoutMs: number) {
    super(`${what} did not finish within ${timeoutMs} ms`);
  }
}

// SLUICE_TEST_SLOW_MS=N prints every test or hook slower than N ms to stderr, to size deadlines.
const SLOW_MS = Number(process.env.SLUICE_TEST_SLOW_MS) || 0;

// Captured once, so a test that swaps the global timers cannot disable the deadline.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** `handler`, failing with TestTimeoutError naming `what` when it takes longer than `timeoutMs`. */
export function withDeadline<T>(what: string, timeoutMs: number, handler: Callback<T>): Callback<T> {
  return (context) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The timer is deliberately not unref'd: a handler waiting on nothing would otherwise let the
    // process exit mid-run ("Exiting early") instead of failing by name.
    const expired = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => reject(new TestTimeoutError(what, timeoutMs)), timeoutMs);
    });
    const startedAt = performance.now();
    return Promise.race([Promise.resolve().then(() => handler(context)), expired]).finally(() => {
      realClearTimeout(timer);
      const tookMs = performance.now() - startedAt;
      if (SLOW_MS && tookMs > SLOW_MS) process.stderr.write(`slow: ${what} took ${Math.round(tookMs)} ms\n`);
    });
  };
}

export function suite<T = Record<string, any>>(name = '', opts: SuiteOptions = {}): Test<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const inner = uvuSuite<T>(name);
  const label = (what: string) => `${what} in suite "${name}"`;
  const wrapped = ((testName: string, handler: Callback<T>) =>
    inner(testName, withDeadline(label(`test "${testName}"`), timeoutMs, handler))) as Test<T>;
  // Indexed, so a search for focused tests finds test files, not this forwarding.
  wrapped['only'] = (testName, handler) => inner['only'](testName, withDeadline(label(`test "${testName}"`), timeoutMs, handler));
  wrapped.skip = inner.skip;
  wrapped.run = inner.run;
  const hook = (kind: string, register: (h: Callback<T>) => void) => (h: Callback<T>) =>
    register(withDeadline(label(`${kind} hook`), timeoutMs, h));
  wrapped.before = Object.assign(hook('before', inner.before), { each: hook('before.each', inner.before.each) });
  wrapped.after = Object.assign(hook('after', inner.after), { each: hook('after.each', inner.after.each) });
  return wrapped;
}

/** A default suite, like uvu's `test`. */
export const test = suite();
