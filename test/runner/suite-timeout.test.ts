import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { suite, TestTimeoutError, withDeadline } from '../support/suite.ts';

const runner = suite('per-test deadline');
const FIXTURE = fileURLToPath(new URL('./fixtures/hangs.ts', import.meta.url));

runner('a handler that never resolves fails with a TestTimeoutError naming it', async () => {
  const guarded = withDeadline('test "x" in suite "y"', 20, () => new Promise<void>(() => {}));
  const err = await Promise.resolve(guarded({ __suite__: 'y', __test__: 'x' })).then(() => undefined, (e: unknown) => e);
  assert.instance(err, TestTimeoutError);
  assert.match((err as Error).message, 'test "x" in suite "y" did not finish within 20 ms');
});

runner('a handler that settles in time passes its result or its failure through', async () => {
  await withDeadline('fine', 1_000, () => {})({ __suite__: '', __test__: '' });
  const err = await Promise.resolve(withDeadline('throws', 1_000, () => { throw new RangeError('own'); })({ __suite__: '', __test__: '' }))
    .then(() => undefined, (e: unknown) => e);
  assert.instance(err, RangeError);
});

runner('in a real uvu run the hung test fails by name and the next test still runs', () => {
  const out = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  const text = out.stdout + out.stderr;
  assert.is(out.signal, null, `the fixture run itself hung: ${text}`);
  assert.is(out.status, 1, text);
  assert.match(text, 'FAIL');
  assert.match(text, 'test "waits for an event that never comes" in suite "a suite with a hung test" did not finish within 200 ms');
  assert.match(text, /Total:\s+2/);
  assert.match(text, /Passed:\s+1/);
});

runner.run();
