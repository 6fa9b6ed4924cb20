// The HTTP edge under hostile requests over raw sockets: malformed request lines, header floods,
// huge and duplicate headers, bodies over the limit, pipelining, smuggling shapes (Content-Length
// with Transfer-Encoding, two Content-Lengths, obs-fold, bare LF), then fast-check's own mixes.
// The oracle: a clear 4xx (or the upstream's answer for a request that is fine), never a 5xx; the
// upstream receives exactly the requests the client was answered for and never a smuggled one;
// memory stays bounded; the node serves a normal request afterwards. Slow headers and slow bodies
// are in test/http/edge-limits.test.ts. Issue #14.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { connect } from 'node:net';
import { suite } from '../support/suite.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { rawExchange, statuses } from '../support/raw-http.ts';

const edge = suite('HTTP edge under hostile requests', { timeoutMs: 120_000 });
let up: UpstreamStub;
let node: SluiceNode;
const MAX_BODY = 1_024;
const H = 'host: x\r\n';

edge.before(async () => {
  up = await UpstreamStub.start();
  node = await startNode({
    node: { id: 'edge-fz', requestTimeoutMs: 300 },
    targets: [{ name: 'api', prefix: '/api', replicas: [up.url], batch: { mode: 'none' }, retry: { attempts: 1 }, maxBodyBytes: MAX_BODY }],
  });
});
edge.after(async () => { await node.stop(); await up.close(); });

const send = (text: string, waitMs = 3_000) => rawExchange(node.port, text, { waitMs });
const servesNormally = async () => {
  const a = await send(`GET /api/health HTTP/1.1\r\n${H}connection: close\r\n\r\n`);
  assert.equal(statuses(a.text), [200], `the node still serves: ${a.text.slice(0, 100)}`);
};

edge('each known hostile shape gets its clear 4xx, and nothing smuggled reaches the upstream', async () => {
  const smuggle = `GET /api/smuggled HTTP/1.1\r\n${H}\r\n`;
  const cases: [name: string, text: string, expected: number[]][] = [
    ['garbage request line', 'GARBAGE\r\n\r\n', [400]],
    ['unknown version', `GET /api/x HTTP/9.9\r\n${H}\r\n`, [400]],
    ['unknown method', `FOO /api/x HTTP/1.1\r\n${H}\r\n`, [400]],
    ['no Host', 'GET /api/x HTTP/1.1\r\n\r\n', [400]],
    ['two Hosts', 'GET /api/x HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n', [400]],
    ['a 20 kB header', `GET /api/x HTTP/1.1\r\n${H}x-big: ${'a'.repeat(20_000)}\r\n\r\n`, [431]],
    ['3 000 headers', `GET /api/x HTTP/1.1\r\n${H}${Array.from({ length: 3_000 }, (_, i) => `x-${i}: v\r\n`).join('')}\r\n`, [431]],
    ['Content-Length and Transfer-Encoding (CL.TE)', `POST /api/x HTTP/1.1\r\n${H}content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n${smuggle}`, [400]],
    ['Transfer-Encoding and Content-Length (TE.CL)', `POST /api/x HTTP/1.1\r\n${H}transfer-encoding: chunked\r\ncontent-length: 40\r\n\r\n0\r\n\r\n${smuggle}`, [400]],
    ['two different Content-Lengths', `POST /api/x HTTP/1.1\r\n${H}content-length: 3\r\ncontent-length: 30\r\n\r\nabc${smuggle}`, [400]],
    ['two equal Content-Lengths', `POST /api/x HTTP/1.1\r\n${H}content-length: 3\r\ncontent-length: 3\r\n\r\nabc`, [400]],
    ['Transfer-Encoding: chunked, identity', `POST /api/x HTTP/1.1\r\n${H}transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n`, [400]],
    ['Transfer-Encoding with a space before the colon', `POST /api/x HTTP/1.1\r\n${H}transfer-encoding : chunked\r\n\r\n0\r\n\r\n${smuggle}`, [400]],
    ['a bad chunk size', `POST /api/x HTTP/1.1\r\n${H}transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, [400]],
    ['obs-fold', `GET /api/x HTTP/1.1\r\n${H}x-a: b\r\n c\r\n\r\n`, [400]],
    ['bare LF line endings', 'GET /api/x HTTP/1.1\nhost: x\n\n', [400]],
    ['a CR inside a header value', `GET /api/x HTTP/1.1\r\n${H}x-a: b\rc\r\n\r\n`, [400]],
    ['a negative Content-Length', `POST /api/x HTTP/1.1\r\n${H}content-length: -1\r\n\r\n`, [400]],
    ['a 20-digit Content-Length', `POST /api/x HTTP/1.1\r\n${H}content-length: 99999999999999999999\r\n\r\n`, [400]],
    ['a NUL in the path', `GET /api/a\0b HTTP/1.1\r\n${H}\r\n`, [400]],
    ['a dot-segment escape', `GET /api/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n${H}\r\n`, [404]],
    ['CONNECT', `CONNECT example.com:443 HTTP/1.1\r\n${H}\r\n`, [405]],
    ['a body over maxBodyBytes by Content-Length', `POST /api/x HTTP/1.1\r\n${H}content-length: 2048\r\n\r\n${'a'.repeat(2_048)}`, [413]],
    ['a chunked body over maxBodyBytes', `POST /api/x HTTP/1.1\r\n${H}transfer-encoding: chunked\r\n\r\n800\r\n${'a'.repeat(2_048)}\r\n0\r\n\r\n`, [413]],
    ['Expect: 100-continue', `POST /api/x HTTP/1.1\r\n${H}expect: 100-continue\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc`, [100, 200]],
    ['three pipelined requests', `GET /api/p1 HTTP/1.1\r\n${H}\r\nGET /api/p2 HTTP/1.1\r\n${H}\r\nGET /api/p3 HTTP/1.1\r\n${H}connection: close\r\n\r\n`, [200, 200, 200]],
  ];
  for (const [name, text, expected] of cases) {
    const calls = up.calls;
    const a = await send(text);
    assert.equal(statuses(a.text), expected, `${name}: ${JSON.stringify(a.text.slice(0, 120))}`);
    const answeredByUpstream = expected.filter((s) => s === 200).length;
    assert.is(up.calls - calls, answeredByUpstream, `${name}: upstream calls`);
  }
  assert.ok(!up.received.some((r) => r.url.includes('smuggled')), 'no smuggled request reached the upstream');
  assert.equal(up.received.slice(-3).map((r) => r.url), ['/p1', '/p2', '/p3'], 'pipelined requests in order');
  await servesNormally();
});

edge('bodies far over the limit are refused without being held: memory stays bounded', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024, 'a');
  const before = process.memoryUsage().heapUsed;
  const sendBig = (chunked: boolean) => new Promise<number[]>((resolve) => {
    let text = '';
    const s = connect(node.port, '127.0.0.1', () => {
      s.write(chunked
        ? `POST /api/x HTTP/1.1\r\n${H}transfer-encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`
        : `POST /api/x HTTP/1.1\r\n${H}content-length: ${big.length}\r\n\r\n`);
      s.write(big, () => { if (chunked) s.write('\r\n0\r\n\r\n'); });
    });
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(statuses(text)); });
  });
  const sent = 24; // 96 MB offered in all
  for (let i = 0; i < sent; i++) assert.equal(await sendBig(i % 2 === 1), [413]);
  const grewMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  console.log(`\n    heap grew ${grewMb.toFixed(1)} MB while ${sent * 4} MB of bodies over the limit were offered`);
  assert.ok(grewMb < 48, `heap grew ${grewMb.toFixed(1)} MB`);
  // The client's oversized body is not the replica's failure: no replica error, the breaker stays shut.
  const metrics = (await send(`GET /_sluice/metrics HTTP/1.1\r\n${H}connection: close\r\n\r\n`)).text;
  assert.not.match(metrics, /^sluice_replica_errors_total\{[^}]*\} [1-9]/m);
  await servesNormally();
});

// Mostly well-formed parts with hostile ones mixed in, so requests get past the parser often enough
// to exercise routing, bodies and the upstream call, not only the parser's 400.
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom('get', 'FOO', 'G ET', '', 'PRI', 'CONNECT') },
);
const path = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('/api/x', '/api/../x', '/api/%2e%2e/x', '/nowhere', '*', '/api/%zz', 'http://h/api/x', '/api/a b', '/_sluice/ready', '', '/api/%2fx', '/api//x') },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~%/-]{0,12}$/).map((s) => '/api/' + s) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => '/api/' + s) },
);
const version = fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, { weight: 2, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.10', 'http/1.1', '') });
const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Host', 'content-length', 'Content-Length', 'transfer-encoding', 'connection', 'expect', 'x-a', 'te', 'upgrade', 'cookie', 'authorization', 'x-forwarded-for') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const headerValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('0', '3', '-1', ' 5', '5 ', '1e3', '0x10', 'chunked', 'chunked, identity', 'identity', 'close', 'keep-alive', '100-continue', 'h2c', 'x', 'a, b') },
  { weight: 2, arbitrary: fc.nat({ max: 80 }).map(String) },
  { weight: 1, arbitrary: fc.string({ maxLength: 16 }) },
);
const request = fc.record({
  method, path, version,
  host: fc.constantFrom(true, true, true, false),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
  body: fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 2, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 2, arbitrary: fc.constantFrom('0\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n', `GET /api/smuggled HTTP/1.1\r\n${H}\r\n`) },
  ),
  eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n'),
});

edge('random hostile requests: a clear 4xx or a real answer, never a 5xx, the upstream called once per 2xx, and the node serves on', async () => {
  const seen = new Map<number, number>();
  let runs = 0;
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const lines = [`${r.method} ${r.path} ${r.version}`, ...(r.host ? ['host: x'] : []), ...r.headers.map(([n, v]) => `${n}: ${v}`), 'connection: close'];
    const text = lines.join(r.eol) + r.eol + r.eol + r.body;
    const calls = up.calls;
    const a = await send(text);
    const codes = statuses(a.text);
    if (codes[0] !== undefined) seen.set(codes[0], (seen.get(codes[0]) ?? 0) + 1);
    assert.ok(codes.every((c) => c < 500), `a 5xx for ${JSON.stringify(text.slice(0, 200))}: ${a.text.slice(0, 200)}`);
    assert.ok(a.closed, `the server closed the connection (connection: close, or a refusal): ${JSON.stringify(text.slice(0, 120))}`);
    assert.is(up.calls - calls, codes.filter((c) => c >= 200 && c < 300).length, `upstream calls for ${JSON.stringify(text.slice(0, 200))} → ${codes}`);
    if (++runs % 50 === 0) await servesNormally();
  }), { seed: 1414, numRuns: 200 });
  assert.ok(!up.received.some((r) => r.url.includes('smuggled')), 'no smuggled request reached the upstream');
  console.log(`\n    ${runs} requests; first answers by status: ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))}`);
  await servesNormally();
});

edge.run();
