// batch.scope (issue #10): node by default; cluster only with mode coalesce, named by path when not.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../src/config/load.ts';
import { InvalidConfigError } from '../../src/errors.ts';

const scope = suite('batch.scope config');
const target = { name: 'api', prefix: '/api', replicas: ['http://127.0.0.1:9001'] };

scope('defaults to node, with a 500 ms forward timeout', () => {
  const b = parseConfig({ targets: [target] }).targets[0]!.batch;
  assert.is(b.scope, 'node');
  assert.is(b.forwardTimeoutMs, 500);
});

scope('cluster is accepted for coalesce', () => {
  assert.is(parseConfig({ targets: [{ ...target, batch: { scope: 'cluster', forwardTimeoutMs: 150 } }] }).targets[0]!.batch.scope, 'cluster');
});

scope('cluster with merge, an unknown scope, or a forward timeout under three keep-alives is refused naming the path', () => {
  for (const batch of [{ mode: 'merge', scope: 'cluster' }, { scope: 'fleet' }, { scope: 'cluster', forwardTimeoutMs: 100 }]) {
    const path = 'forwardTimeoutMs' in batch ? 'targets.0.batch.forwardTimeoutMs' : 'targets.0.batch.scope';
    try {
      parseConfig({ targets: [{ ...target, batch }] });
      assert.unreachable('accepted');
    } catch (err) {
      assert.instance(err, InvalidConfigError);
      assert.ok((err as InvalidConfigError).issues.some((i) => i.path === path), JSON.stringify((err as InvalidConfigError).issues));
    }
  }
});

scope.run();
