import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOverrides, envOverrides, parseConfig, parseTarget, readConfigFile } from '../../src/config/load.ts';
import { ErrorCode, InvalidConfigError } from '../../src/errors.ts';

const config = suite('config');
const target = { name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:9001'] };

/** The issues of the InvalidConfigError that parsing `input` throws. */
function issuesOf(fn: () => unknown) {
  try { fn(); } catch (e) {
    assert.instance(e, InvalidConfigError);
    assert.is((e as InvalidConfigError).code, ErrorCode.InvalidConfig);
    return { issues: (e as InvalidConfigError).issues, message: (e as Error).message };
  }
  throw new Error('expected an InvalidConfigError');
}

config('an empty file runs with every default', () => {
  const c = parseConfig({});
  assert.is(c.node.port, 8080);
  assert.is(c.cluster.name, 'default');
  assert.is(c.nats, undefined);
  assert.equal(c.targets, []);
});

config('target sections get their defaults; merge mode defaults to POST', () => {
  const c = parseConfig({ targets: [target, { ...target, name: 'm', prefix: '/m', batch: { mode: 'merge' } }] });
  assert.equal(c.targets[0]!.batch.methods, ['GET', 'HEAD']);
  assert.equal(c.targets[1]!.batch.methods, ['POST']);
  assert.is(c.targets[0]!.breaker.consecutiveFailures, 5);
  assert.is(c.targets[0]!.dispatch.concurrency, 64);
  assert.ok(Object.isFrozen(c.targets[0]!.batch));
});

config('a wrong type names the path, the value and the expected type', () => {
  const { issues, message } = issuesOf(() => parseConfig({ node: { port: '80' } }));
  assert.equal(issues, [{ path: 'node.port', value: '80', expected: 'a number' }]);
  assert.match(message, 'node.port: got "80", expected a number');
});

config('an unknown key is an error, at any depth', () => {
  const { issues } = issuesOf(() => parseConfig({ targets: [{ ...target, batch: { maxWait: 5 } }], colour: 'blue' }));
  assert.equal(issues.map((i) => [i.path, i.value, i.expected]), [
    ['targets.0.batch.maxWait', 5, 'no such key (unknown keys are errors)'],
    ['colour', 'blue', 'no such key (unknown keys are errors)'],
  ]);
});

config('a value outside its enum lists the allowed choices', () => {
  const { issues } = issuesOf(() => parseConfig({ targets: [{ ...target, batch: { mode: 'batch' } }] }));
  assert.equal(issues, [{ path: 'targets.0.batch.mode', value: 'batch', expected: 'one of "coalesce", "merge", "none"' }]);
});

config('a number out of range says the bound', () => {
  const { issues } = issuesOf(() => parseConfig({ targets: [{ ...target, limits: [{ name: 'r', limit: 0 }] }] }));
  assert.equal(issues, [{ path: 'targets.0.limits.0.limit', value: 0, expected: 'a number > 0' }]);
});

config('missing required target fields are named', () => {
  const { issues } = issuesOf(() => parseConfig({ targets: [{ name: 'x' }] }));
  assert.equal(issues.map((i) => i.path), ['targets.0.prefix', 'targets.0.replicas']);
  assert.is(issues[0]!.value, undefined);
});

config('replicas must be http(s) URLs and prefixes must not shadow the admin API', () => {
  const { issues } = issuesOf(() => parseTarget({ name: 'x', prefix: '/_sluice/x', replicas: ['ftp://h', 'nonsense'] }));
  assert.equal(issues.map((i) => [i.path, i.value]), [['prefix', '/_sluice/x'], ['replicas.0', 'ftp://h'], ['replicas.1', 'nonsense']]);
});

config('two targets with one prefix are refused', () => {
  const { issues } = issuesOf(() => parseConfig({ targets: [target, { ...target, name: 'other' }] }));
  assert.equal(issues, [{ path: 'targets.1.prefix', value: '/llm', expected: 'a prefix not used by another target' }]);
});

config('a limit keyed by something other than target, ip or a header is refused', () => {
  const { issues } = issuesOf(() => parseTarget({ ...target, limits: [{ name: 'r', limit: 5, per: { cookie: 'sid' } }] }));
  assert.equal(issues[0]!.path, 'limits.0.per');
  assert.match(issues[0]!.expected, '{ "header": NAME }');
});

config('files are read as JSON or YAML; syntax errors and missing files name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
  writeFileSync(join(dir, 'a.yaml'), 'node:\n  port: 9000\ntargets:\n  - name: llm\n    prefix: /llm\n    replicas: [http://127.0.0.1:1]\n');
  writeFileSync(join(dir, 'b.json'), '{"node": {"port": 9001,}}');
  assert.is(parseConfig(readConfigFile(join(dir, 'a.yaml'))).node.port, 9000);
  const bad = issuesOf(() => readConfigFile(join(dir, 'b.json')));
  assert.match(bad.message, 'b.json');
  assert.match(bad.issues[0]!.expected, 'valid JSON');
  const missing = issuesOf(() => readConfigFile(join(dir, 'nope.yaml')));
  assert.match(missing.issues[0]!.expected, 'ENOENT');
});

config('flags override the environment, which overrides the file', () => {
  const env = envOverrides({ SLUICE_PORT: '9100', SLUICE_CLUSTER: 'envc', SLUICE_NATS: 'nats://a:1, nats://b:2' });
  const merged = parseConfig(applyOverrides({ node: { port: 1, id: 'file' } }, env, { port: 9200 }));
  assert.is(merged.node.port, 9200);
  assert.is(merged.node.id, 'file');
  assert.is(merged.cluster.name, 'envc');
  assert.equal(merged.nats?.servers, ['nats://a:1', 'nats://b:2']);
  assert.is(issuesOf(() => envOverrides({ SLUICE_PORT: 'http' })).issues[0]!.path, 'SLUICE_PORT');
});

config.run();
