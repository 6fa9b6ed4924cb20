import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { expandEnvVars } from '../../src/config/env-vars.ts';
import { InvalidConfigError } from '../../src/errors.ts';

const env = suite('config ${VAR} expansion');

env('expands set variables and falls back when unset or empty, anywhere in strings', () => {
  const raw = { targets: [{ replicas: ['${UP:-http://127.0.0.1:9}', 'http://${HOST}:1/${EMPTY:-x}'], n: 3, ok: true }] };
  assert.equal(expandEnvVars(raw, { HOST: 'h', EMPTY: '' }), { targets: [{ replicas: ['http://127.0.0.1:9', 'http://h:1/x'], n: 3, ok: true }] });
  assert.equal(expandEnvVars(raw, { HOST: 'h', UP: 'http://u:2' }), { targets: [{ replicas: ['http://u:2', 'http://h:1/x'], n: 3, ok: true }] });
});

env('leaves other dollar signs alone', () => {
  assert.equal(expandEnvVars({ a: 'cost $5', b: '$HOME', c: '${not valid}' }, {}), { a: 'cost $5', b: '$HOME', c: '${not valid}' });
});

env('an unset variable with no fallback is an error naming the path and the reference', () => {
  try {
    expandEnvVars({ targets: [{ replicas: ['${MISSING}'] }] }, {});
    assert.unreachable();
  } catch (err) {
    assert.instance(err, InvalidConfigError);
    assert.equal((err as InvalidConfigError).issues.map((i) => [i.path, i.value]), [['targets.0.replicas.0', '${MISSING}']]);
  }
});

env.run();
