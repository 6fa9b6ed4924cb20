// The config loader under random and mutated input: JSON and YAML text (random, and the example
// config with characters changed), and parsed values with fields replaced, deleted or added. The
// oracle: a valid, frozen Config, or an InvalidConfigError whose every issue names a real place in
// the input (its parent exists) and the value found there; never any other error. Issue #14.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { suite } from '../support/suite.ts';
import { parseConfig, readConfigFile } from '../../src/config/load.ts';
import { InvalidConfigError } from '../../src/errors.ts';

const fuzz = suite('config loader under random and mutated input', { timeoutMs: 60_000 });

const EXAMPLE = JSON.parse(readFileSync(new URL('../../examples/sluice.json', import.meta.url), 'utf8')) as Record<string, unknown>;
/** A richer valid config: every section, so mutations reach every part of the schema. */
const FULL = {
  ...EXAMPLE,
  node: { id: 'n1', host: '127.0.0.1', port: 0, drainMs: 100, maxConnections: 100, requestTimeoutMs: 1_000 },
  cluster: { name: 'c', heartbeatMs: 100, deadAfterMs: 500, syncMs: 50 },
  nats: { servers: ['nats://127.0.0.1:4222'], token: 't' },
  targets: [
    { name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:9001/v1'], batch: { mode: 'coalesce', maxWaitMs: 10 },
      limits: [{ name: 'rpm', limit: 100, windowMs: 60_000 }, { name: 'rps', limit: 5, windowMs: 1_000, mode: 'strict' }] },
    { name: 'm', prefix: '/m', replicas: ['http://127.0.0.1:9002'], batch: { mode: 'merge' } },
  ],
};

let dir: string;
// The yaml library warns on stderr about odd anchors and tags the mutations make: noise here.
let warningListeners: NodeJS.WarningListener[] = [];
fuzz.before(() => {
  warningListeners = process.listeners('warning');
  process.removeAllListeners('warning');
  dir = mkdtempSync(join(tmpdir(), 'sluice-config-fuzz-'));
  // The bases must be valid, or every mutation is trivially an error.
  parseConfig(EXAMPLE);
  parseConfig(FULL);
});
fuzz.after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick: let them pass first
  for (const l of warningListeners) process.on('warning', l);
});

/** Splits an issue path: dotted keys, and `["…"]` for a key holding a dot or nothing. */
function segments(path: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\.)([^.[\]"]+)|\[("(?:[^"\\]|\\.)*")\]/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(path))) { out.push(m[1] ?? (JSON.parse(m[2]!) as string)); end = re.lastIndex; }
  assert.is(end, path.length, `issue path ${path} is not a readable path`);
  return out;
}

/** What the input holds at a dotted path, read independently of the loader's own helper. */
function at(input: unknown, path: string[]): { parentExists: boolean; value: unknown } {
  let v: unknown = input;
  for (const [i, k] of path.entries()) {
    if (v === null || typeof v !== 'object') return { parentExists: false, value: undefined };
    if (i === path.length - 1) return { parentExists: true, value: Object.prototype.hasOwnProperty.call(v, k) ? (v as Record<string, unknown>)[k] : undefined };
    v = (v as Record<string, unknown>)[k];
  }
  return { parentExists: true, value: v };
}

/** The loader's verdict on `input` must be a frozen Config or a path-naming InvalidConfigError. */
function checkVerdict(input: unknown, load: () => unknown, label: string): 'valid' | 'invalid' {
  let out: unknown;
  try {
    out = load();
  } catch (err) {
    assert.instance(err, InvalidConfigError, `${label}: threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    const issues = (err as InvalidConfigError).issues;
    assert.ok(issues.length > 0, `${label}: an error with no issue`);
    for (const i of issues) {
      assert.type(i.path, 'string');
      assert.ok(i.expected.length > 0, `${label}: issue at ${i.path} says nothing expected`);
      if (input === undefined || i.path === '') continue;
      const found = at(input, segments(i.path));
      assert.ok(found.parentExists, `${label}: issue path ${i.path} is not in the input`);
      assert.equal(i.value, found.value, `${label}: issue at ${i.path} names a value not found there`);
    }
    return 'invalid';
  }
  assert.ok(Object.isFrozen(out), `${label}: the config is frozen`);
  return 'valid';
}

function pathsOf(v: unknown, p: string[] = []): string[][] {
  const out = [p];
  if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...p, k]));
  return out;
}

type Edit = { op: 'set'; value: unknown } | { op: 'delete' } | { op: 'add'; key: string; value: unknown };
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 1.5, 1e308, -0, 2 ** 53, 65_536, '', ' ', 'http://', 'x'.repeat(5_000), null, [], {}, true),
);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), value: oddValue }),
  fc.record({ op: fc.constant('delete' as const) }),
  fc.record({ op: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'limit', 'mode')), value: oddValue }),
);

function applyEdits(base: unknown, edits: { pick: number; e: Edit }[]): unknown {
  let v = JSON.parse(JSON.stringify(base)) as unknown;
  for (const { pick, e } of edits) {
    const paths = pathsOf(v);
    const p = paths[pick % paths.length]!;
    if (p.length === 0) { if (e.op === 'set') v = e.value; continue; }
    const parent = at(v, p.slice(0, -1)).value as Record<string, unknown>;
    const key = p.at(-1)!;
    if (e.op === 'set') parent[key] = e.value;
    else if (e.op === 'delete') Array.isArray(parent) ? parent.splice(Number(key), 1) : delete parent[key];
    else if (!Array.isArray(parent) && parent[key] !== null && typeof parent[key] === 'object') {
      Object.defineProperty(parent[key], e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
    }
  }
  return v;
}

fuzz('mutated config values: a valid config or an error naming the path and value, never a crash', () => {
  const verdicts = { valid: 0, invalid: 0 };
  fc.assert(fc.property(fc.boolean(), fc.array(fc.record({ pick: fc.nat(), e: edit }), { minLength: 1, maxLength: 4 }), (full, edits) => {
    const input = applyEdits(full ? FULL : EXAMPLE, edits);
    verdicts[checkVerdict(input, () => parseConfig(input), JSON.stringify(edits).slice(0, 200))]++;
  }), { seed: 1414, numRuns: 800 });
  assert.ok(verdicts.valid > 0 && verdicts.invalid > 0, `both verdicts seen: ${JSON.stringify(verdicts)}`);
});

fuzz('random JSON values: a valid config or an error naming the path, never a crash', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (input) => { checkVerdict(input, () => parseConfig(input), JSON.stringify(input).slice(0, 200)); }), { seed: 1414, numRuns: 500 });
});

/** Files: the text is what is fuzzed, so the input the issues refer to is the parsed text, when it parses. */
function checkFile(name: string, text: string): void {
  const file = join(dir, name);
  writeFileSync(file, text);
  let parsed: unknown;
  try { parsed = readConfigFile(file); } catch (err) {
    assert.instance(err, InvalidConfigError, `${name}: reading threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return;
  }
  checkVerdict(parsed, () => parseConfig(parsed), `${name}: ${text.slice(0, 120)}`);
}

const charEdit = fc.record({ at: fc.nat(), del: fc.nat({ max: 4 }), insert: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom(':', '- ', '{', '}', '"', '\n  ', '&a', '*a', '!!binary', '0x', '1e999', '~', '\t')) });
const applyChars = (text: string, edits: { at: number; del: number; insert: string }[]) =>
  edits.reduce((t, e) => { const i = e.at % (t.length + 1); return t.slice(0, i) + e.insert + t.slice(i + e.del); }, text);

fuzz('mutated and random JSON and YAML files: a valid config or an error naming the path, never a crash', () => {
  const json = JSON.stringify(FULL, null, 2);
  const yaml = toYaml(FULL);
  fc.assert(fc.property(fc.array(charEdit, { minLength: 1, maxLength: 6 }), (edits) => {
    checkFile('c.json', applyChars(json, edits));
    checkFile('c.yaml', applyChars(yaml, edits));
  }), { seed: 1414, numRuns: 250 });
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
    checkFile('r.json', text);
    checkFile('r.yaml', text);
  }), { seed: 1414, numRuns: 200 });
});

fuzz('pathological files: deep nesting, alias bombs, huge numbers, a BOM, an empty file', () => {
  for (const [name, text] of [
    ['deep.json', '['.repeat(5_000) + ']'.repeat(5_000)],
    ['deep.yaml', 'node: ' + '['.repeat(2_000) + ']'.repeat(2_000)],
    ['bomb.yaml', 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'],
    ['huge.json', '{"node":{"port":1e999}}'],
    ['bom.json', '\uFEFF{"node":{"port":0}}'],
    ['empty.yaml', ''],
    ['empty.json', ''],
    ['nul.yaml', 'node:\0\n'],
  ] as const) checkFile(name, text);
});

fuzz('found by the fuzz: a key with a dot is quoted in the path, and a too-deep value is described, not printed', () => {
  const err = (() => { try { parseConfig({ node: { 'a.b': 1, '': 2 } }); } catch (e) { return e as InvalidConfigError; } })();
  assert.instance(err, InvalidConfigError);
  assert.equal(err!.issues.map((i) => i.path).sort(), ['node[""]', 'node["a.b"]']);
  const deep = JSON.parse('['.repeat(5_000) + ']'.repeat(5_000)) as unknown;
  const e2 = (() => { try { parseConfig(deep); } catch (e) { return e as Error; } })();
  assert.instance(e2, InvalidConfigError);
  assert.match(e2!.message, '(root): got a deeply nested list, expected an object');
});

fuzz.run();
