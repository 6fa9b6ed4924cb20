// node.maxConnections and node.requestTimeoutMs at the HTTP edge: sockets beyond the cap are closed
// at once and counted; a client trickling its headers or body past requestTimeoutMs gets a 408 and
// is counted; the node serves normal requests throughout. Issue #14.
import * as assert from 'uvu/assert';
import type { Socket } from 'node:net';
import { suite } from '../support/suite.ts';
import type { SluiceNode } from '../../src/node.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { startNode } from '../support/nodes.ts';
import { pause, rawExchange, statuses } from '../support/raw-http.ts';
import { connect } from 'node:net';

const edge = suite('connection and request limits at the edge', { timeoutMs: 60_000 });
let up: UpstreamStub;
let node: SluiceNode;
const MAX_CONNECTIONS = 3;
const REQUEST_TIMEOUT_MS = 400;

edge.before(async () => {
  up = await UpstreamStub.start();
  node = await startNode({
    node: { id: 'edge-1', maxConnections: MAX_CONNECTIONS, requestTimeoutMs: REQUEST_TIMEOUT_MS },
    targets: [{ name: 'api', prefix: '/api', replicas: [up.url], batch: { mode: 'none' }, retry: { attempts: 1 } }],
  });
});
edge.after(async () => { await node.stop(); await up.close(); });

const get = (path: string) => rawExchange(node.port, `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
const rejected = async (reason: string) => {
  const m = /\d+$/m.exec((await get('/_sluice/metrics')).text.split('\n').find((l) => l.startsWith(`sluice_http_rejected_total{reason="${reason}"`)) ?? '');
  return m ? Number(m[0]) : 0;
};

/** A keep-alive connection that has been answered once, so the server holds it open. */
function heldConnection(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(node.port, '127.0.0.1', () => s.write('GET /api/hold HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.once('data', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('held connection closed before its answer')));
  });
}

edge('beyond maxConnections a new socket is closed at once, counted, and the node serves again once one closes', async () => {
  const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, heldConnection));
  const refused = await rawExchange(node.port, 'GET /api/x HTTP/1.1\r\nhost: x\r\n\r\n', { waitMs: 5_000 });
  assert.ok(refused.closed, 'the server closed the socket (it did not wait for the deadline)');
  assert.is(refused.text, '', 'nothing was read or answered on it');
  const calls = up.calls;
  for (const s of held) s.destroy();
  // The server counts the sockets it has let go asynchronously: a request may still be refused until
  // it has; each refused try is one more count, each try is answered or closed (never hangs).
  let answer = await get('/api/after');
  let refusedAgain = 0;
  for (let i = 0; i < 20 && statuses(answer.text).length === 0; i++) { refusedAgain++; answer = await get('/api/after'); }
  assert.equal(statuses(answer.text), [200]);
  assert.is(up.calls, calls + 1, 'the refused socket never reached the upstream');
  assert.is(await rejected('max_connections'), 1 + refusedAgain);
});

edge('a client trickling its body past requestTimeoutMs gets a 408, is counted, and the node serves on', async () => {
  const before = await rejected('ERR_HTTP_REQUEST_TIMEOUT');
  const trickle = async (s: Socket) => {
    s.write('POST /api/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n');
    for (let i = 0; i < 100 && !s.destroyed; i++) { s.write('x'); await pause(50); } // 5 s at most, past the 400 ms bound
  };
  const a = await rawExchange(node.port, trickle, { waitMs: 10_000 });
  assert.ok(a.closed, 'the server closed the connection before the client finished');
  assert.equal(statuses(a.text), [408]);
  assert.is(await rejected('ERR_HTTP_REQUEST_TIMEOUT'), before + 1);
  assert.equal(statuses((await get('/api/ok')).text), [200]);
});

edge('a client trickling its headers past requestTimeoutMs gets a 408 too', async () => {
  const before = await rejected('ERR_HTTP_REQUEST_TIMEOUT');
  const trickle = async (s: Socket) => {
    s.write('GET /api/slow HTTP/1.1\r\nhost: x\r\n');
    for (let i = 0; i < 100 && !s.destroyed; i++) { s.write(`x-h${i}: v\r\n`); await pause(50); }
  };
  const a = await rawExchange(node.port, trickle, { waitMs: 10_000 });
  assert.ok(a.closed);
  assert.equal(statuses(a.text), [408]);
  assert.is(await rejected('ERR_HTTP_REQUEST_TIMEOUT'), before + 1);
});

edge('both keys have documented defaults', async () => {
  const { parseConfig } = await import('../../src/config/load.ts');
  const c = parseConfig({ targets: [] });
  assert.is(c.node.maxConnections, 10_000);
  assert.is(c.node.requestTimeoutMs, 60_000);
});

edge.run();
