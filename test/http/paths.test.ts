// Dot-segments and their encoded forms are resolved (RFC 3986 remove_dot_segments) or refused before
// routing, so nothing reaches an upstream outside its target's replica base path. Issue #14.
// The upstream stubs record every path they see; the oracle is "under /base/, no dot-segment",
// checked on what arrived, for a table of known attacks and for generated paths.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { suite } from '../support/suite.ts';
import type { SluiceNode } from '../../src/node.ts';
import { normalizeRequestTarget, removeDotSegments } from '../../src/http/request-path.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { rawExchange, statuses } from '../support/raw-http.ts';

const pure = suite('request path normalisation');

pure('remove_dot_segments matches RFC 3986 §5.2.4 and §5.4', () => {
  const cases: [string, string][] = [
    ['/a/b/c/./../../g', '/a/g'], ['/b/c/../g', '/b/g'], ['/b/c/../../g', '/g'], ['/b/c/../../../g', '/g'],
    ['/b/c/./g/.', '/b/c/g/'], ['/b/c/g/..', '/b/c/'], ['/b/c/g;x=1/./y', '/b/c/g;x=1/y'], ['/b/c/g?y/./x', '/b/c/g?y/x'],
    ['/..', '/'], ['/.', '/'], ['//..', '/'], ['/a//../b', '/a/b'], ['/', '/'], ['/a/', '/a/'], ['/a/..g/g..', '/a/..g/g..'],
  ];
  for (const [input, out] of cases) assert.is(removeDotSegments(input), out, input);
});

pure('encoded dots are dots, other unreserved escapes are decoded, the query is left alone', () => {
  const cases: [string, string, string][] = [
    ['/t/../../etc/passwd', '/etc/passwd', ''],
    ['/t/%2e%2e/%2e%2e/etc/passwd', '/etc/passwd', ''],
    ['/t/%2E%2e/x', '/x', ''],
    ['/t/.%2E/x', '/x', ''],
    ['/t//../x', '/t/x', ''],
    ['/t/a/./b/../c?q=../1&r=%2e', '/t/a/c', 'q=../1&r=%2e'],
    ['/t/%41%7e%2D%5f', '/t/A~-_', ''],
    ['/t/a%20b/%C3%A9', '/t/a%20b/%C3%A9', ''],
    ['http://example.com/t/../x?y=1', '/x', 'y=1'],
    ['http://example.com', '/', ''],
    ['http://example.com?y', '/', 'y'],
  ];
  for (const [input, path, query] of cases) assert.equal(normalizeRequestTarget(input), { ok: true, path, query }, input);
});

pure('backslashes, encoded slashes and backslashes, NUL, double encoding and ..; are refused', () => {
  for (const input of [
    '/t/..\\..\\etc', '/t/%5c..%5c', '/t/%5C', '/t/a%2fb', '/t/..%2F..%2Fetc', '/t/%00', '/t/%252e%252e/x', '/t/%252F',
    '/t/..;/x', '/t/.;/x', '/t/%2e%2e;/x', '/t/%zz', '/t/%4', '*', 'example.com:443', 'ftp://h/x',
  ]) {
    const r = normalizeRequestTarget(input);
    assert.is(r.ok, false, input);
  }
});

/** Path segments an attacker would reach for, in raw and encoded forms. */
const segment = fc.oneof(
  fc.constantFrom('..', '.', '%2e%2e', '%2E%2e', '%2e', '.%2e', '%2e.', '', 'a', 'b', '%41', '..;', '%2f', '%2F', '\\', '%5c', '%252e', ';x', '~', '...', '%', '%2', 'x%20y'),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,6}$/),
);
const pathArb = fc.array(segment, { minLength: 1, maxLength: 8 }).map((segs) => '/t/' + segs.join('/'));

/** True when `path` (what an upstream saw) has no segment that is a dot-segment, raw or encoded. */
const hasDotSegment = (path: string) => path.split('?')[0]!.split('/').some((s) => /^(?:\.|%2e){1,2}$/i.test(s));

pure('for any generated path: refused, or a rooted path with no dot-segment that stays normalised', () => {
  fc.assert(fc.property(pathArb, (p) => {
    const r = normalizeRequestTarget(p);
    if (!r.ok) return;
    assert.ok(r.path.startsWith('/'), r.path);
    assert.not.ok(hasDotSegment(r.path), `${p} → ${r.path}`);
    assert.equal(normalizeRequestTarget(r.path), { ok: true, path: r.path, query: '' }, 'idempotent');
  }), { seed: 1414, numRuns: 3_000 });
});

pure.run();

const edge = suite('request paths at the HTTP edge', { timeoutMs: 60_000 });
let base: UpstreamStub;
let other: UpstreamStub;
let node: SluiceNode;

edge.before(async () => {
  [base, other] = await Promise.all([UpstreamStub.start(), UpstreamStub.start()]);
  node = await startNode({
    node: { id: 'paths-1' },
    targets: [
      { name: 't', prefix: '/t', replicas: [base.url + '/base'], batch: { mode: 'none' }, retry: { attempts: 1 } },
      { name: 'other', prefix: '/other', replicas: [other.url + '/obase'], batch: { mode: 'none' }, retry: { attempts: 1 } },
    ],
  });
});
edge.after(async () => { await node.stop(); await base.close(); await other.close(); });

const get = (path: string) => rawExchange(node.port, `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
/** The paths the upstreams receive from now on. */
const watch = () => {
  const [b, o] = [base.received.length, other.received.length];
  return () => [...base.received.slice(b), ...other.received.slice(o)].map((r) => r.url);
};
/** What an upstream saw is under its replica's base path and has no dot-segment. */
const contained = (url: string) => (/^\/base(?:\/|$|\?)/.test(url) || /^\/obase(?:\/|$|\?)/.test(url)) && !hasDotSegment(url);

edge('known traversals reach the upstream resolved, inside the base path, or not at all', async () => {
  const expect: [string, number, string | undefined][] = [
    ['/t/../../etc/passwd', 404, undefined], // resolves to /etc/passwd: no target serves it
    ['/t/%2e%2e/%2e%2e/etc/passwd', 404, undefined],
    ['/t/%2E%2e/', 404, undefined],
    ['/t//../x', 200, '/base/x'],
    ['/t/a/../../other/y', 200, '/obase/y'], // routed by the resolved path, to the target that serves it
    ['/t/a/%2e/b/%2e%2e/c?q=..', 200, '/base/a/c?q=..'],
    ['/t/..%2f..%2fetc', 400, undefined],
    ['/t/..\\..\\etc', 400, undefined],
    ['/t/%5c..%5cetc', 400, undefined],
    ['/t/..;/x', 400, undefined],
    ['/t/%252e%252e/x', 400, undefined],
  ];
  for (const [path, status, upstream] of expect) {
    const arrivals = watch();
    const a = await get(path);
    assert.equal(statuses(a.text), [status], `${path}: ${a.text.slice(0, 80)}`);
    const arrived = arrivals();
    assert.equal(arrived, upstream ? [upstream] : [], path);
  }
  const metrics = (await get('/_sluice/metrics')).text;
  assert.match(metrics, /sluice_http_rejected_total\{reason="bad_path",node="paths-1"\} 5/);
});

edge('for any generated path, what reaches an upstream stays under its base path (fast-check)', async () => {
  let answered = 0;
  await fc.assert(fc.asyncProperty(pathArb, async (p) => {
    const arrivals = watch();
    const a = await get(p);
    const codes = statuses(a.text);
    assert.is(codes.length, 1, `${p}: one answer, got ${JSON.stringify(a.text.slice(0, 80))}`);
    answered++;
    const arrived = arrivals();
    for (const url of arrived) assert.ok(contained(url), `${p} reached an upstream as ${url}`);
    // An answer from the upstream (200) is one call; a 400 or 404 from sluice is none.
    assert.is(arrived.length, codes[0] === 200 ? 1 : 0, `${p} → ${codes[0]}`);
  }), { seed: 1414, numRuns: 150 });
  assert.is(answered, 150);
});

edge.run();
