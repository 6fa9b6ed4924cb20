// Integration: needs Debian's nats-server (npm test installs it). Servers run from nats.conf on free ports.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { NatsBus } from '../../src/bus/nats-bus.ts';
import type { BusMessage } from '../../src/bus/bus.ts';
import { ErrorCode, type SluiceError } from '../../src/errors.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-servers.ts';

const nats = suite('NatsBus against a real nats-server (integration)');
let cluster: NatsCluster;
const buses: NatsBus[] = [];
const open = async (servers: string[], extra = {}) => {
  const b = await NatsBus.connect({ servers, reconnectTimeWaitMs: 50, ...extra });
  buses.push(b);
  return b;
};

/** Resolves with the next message a subscription sees. */
const nextMessage = (bus: NatsBus, subject: string, opts = {}) =>
  new Promise<BusMessage>((resolve) => { const s = bus.subscribe(subject, (m) => { s.unsubscribe(); resolve(m); }, opts); });

nats.before(async () => { cluster = await startNatsCluster(1, { token: 's3cret' }); });
nats.after(async () => { await Promise.all(buses.map((b) => b.close())); await cluster.close(); });

nats('publish and subscribe carry a versioned JSON payload', async () => {
  const a = await open(cluster.urls, { token: 's3cret' });
  const got = nextMessage(a, 'sluice.t.ping');
  await a.request('_flush.noop', null, 50).catch(() => {}); // round trip: the subscription is registered
  a.publish('sluice.t.ping', { hello: [1, 2] });
  assert.equal((await got).data, { hello: [1, 2] });
});

nats('request/reply answers within the deadline; silence is a BusTimeout, no listener NoResponders', async () => {
  const a = await open(cluster.urls, { token: 's3cret' });
  a.subscribe('sluice.t.echo', (m) => m.respond?.({ echo: m.data }));
  assert.equal(await a.request('sluice.t.echo', 7, 2000), { echo: 7 });
  a.subscribe('sluice.t.silent', () => {});
  const timeout = await a.request('sluice.t.silent', 1, 100).catch((e: SluiceError) => e.code);
  assert.is(timeout, ErrorCode.BusTimeout);
  const none = await a.request('sluice.t.nobody', 1, 2000).catch((e: SluiceError) => e.code);
  assert.is(none, ErrorCode.NoResponders);
});

nats('a queue group delivers each message to one member only', async () => {
  const a = await open(cluster.urls, { token: 's3cret' });
  const seen: string[] = [];
  let count = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  for (const w of ['w1', 'w2']) a.subscribe('sluice.t.work', (m) => { seen.push(`${w}:${m.data}`); if (++count === 20) done(); }, { queue: 'q' });
  await a.request('_flush.noop', null, 50).catch(() => {});
  for (let i = 0; i < 20; i++) a.publish('sluice.t.work', i);
  await all;
  const ids = seen.map((s) => s.split(':')[1]);
  assert.is(new Set(ids).size, 20, 'each message once');
});

nats('malformed bytes from a foreign client are dropped and counted', async () => {
  const a = await open(cluster.urls, { token: 's3cret' });
  const { connect } = await import('nats');
  const raw = await connect({ servers: cluster.urls, token: 's3cret' });
  let got = 0;
  let fine!: (d: unknown) => void;
  const ok = new Promise((r) => { fine = r; });
  a.subscribe('sluice.t.mixed', (m) => { got++; fine(m.data); });
  await a.request('_flush.noop', null, 50).catch(() => {});
  raw.publish('sluice.t.mixed', new TextEncoder().encode('garbage'));
  raw.publish('sluice.t.mixed', new TextEncoder().encode('{"v":2,"d":1}'));
  await raw.flush();
  a.publish('sluice.t.mixed', 'fine');
  assert.is(await ok, 'fine');
  assert.is(got, 1);
  assert.is(a.stats.malformed, 2);
  await raw.close();
});

nats('a publish over the server\'s max_payload is dropped and counted, never thrown; the next one goes', async () => {
  const a = await open(cluster.urls, { token: 's3cret' });
  const b = await open(cluster.urls, { token: 's3cret' });
  const next = nextMessage(b, 'sluice.t.big');
  await b.request('_flush.noop', null, 50).catch(() => {}); // the subscription is at the server
  a.publish('sluice.t.big', 'x'.repeat(2 * 1_048_576)); // nats.conf: max_payload 1 MiB
  assert.is(a.stats.dropped, 1);
  a.publish('sluice.t.big', 'small');
  assert.is((await next).data, 'small', 'the oversized one never arrived; the small one did');
  assert.is(a.stats.dropped, 1);
});

nats('reconnects after the server restarts and keeps its subscriptions', async () => {
  const statuses: string[] = [];
  const a = await open(cluster.urls, { token: 's3cret', onStatus: (s: { type: string }) => statuses.push(s.type) });
  a.subscribe('sluice.t.echo2', (m) => m.respond?.(m.data));
  assert.is(await a.request('sluice.t.echo2', 1, 2000), 1);
  const server = cluster.servers[0]!;
  await cluster.stop(server);
  await cluster.restart(server);
  // Ask until the reconnected client answers; every try has its own deadline.
  let answer: unknown;
  for (let i = 0; i < 100 && answer === undefined; i++) {
    answer = await a.request('sluice.t.echo2', 2, 200).catch(() => undefined);
  }
  assert.is(answer, 2);
  assert.ok(statuses.includes('reconnect'), `statuses: ${statuses}`);
});

nats('a wrong token is refused at connect', async () => {
  const err = await NatsBus.connect({ servers: cluster.urls, token: 'wrong' }).then(() => 'connected', (e: Error) => e.message);
  assert.not.equal(err, 'connected');
});

nats.run();
