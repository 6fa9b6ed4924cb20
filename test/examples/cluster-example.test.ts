// examples/cluster/start.sh: three NATS servers and three sluice nodes on loopback from one script.
// The nodes see each other and one singleton holder, every node proxies, and stopping the script
// stops everything it started.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'undici';
import { UpstreamStub } from '../support/upstream-stub.ts';
import { ROOT } from './run-example.ts';

const cluster = suite('examples/cluster/start.sh', { timeoutMs: 90_000 });
let up: UpstreamStub;
let script: ChildProcess;
let out = '';
let urls: string[] = [];

cluster.before(async () => {
  up = await UpstreamStub.start();
  script = spawn('bash', ['examples/cluster/start.sh'], {
    cwd: ROOT, env: { ...process.env, UPSTREAM_URL: up.url, SLUICE_PORTS: '0 0 0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  urls = await new Promise<string[]>((resolve, reject) => {
    const found = () => [...out.matchAll(/listening on (http:\/\/[0-9.]+:\d+)/g)].map((m) => m[1]!);
    script.stdout!.on('data', (d) => { out += d; if (found().length === 3) resolve(found()); });
    script.stderr!.on('data', (d) => { out += d; });
    script.once('exit', (code) => reject(new Error(`start.sh exited with ${code}: ${out}`)));
  });
});
cluster.after(async () => {
  if (script.exitCode === null) { script.kill('SIGTERM'); await new Promise((r) => script.once('exit', r)); }
  await up.close();
});

type View = { node: string; nodes: string[]; singleton: string | null };
const view = async (url: string) => (await (await request(`${url}/_sluice/cluster`)).body.json()) as View;

cluster('three nodes see each other and agree on one singleton holder', async () => {
  const deadline = Date.now() + 30_000;
  let views: View[] = [];
  for (;;) {
    views = await Promise.all(urls.map(view));
    const agreed = views.every((v) => v.nodes.length === 3 && v.singleton !== null && v.singleton === views[0]!.singleton);
    if (agreed || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100)); // membership converges over heartbeats; polled up to the deadline
  }
  assert.equal(views.map((v) => v.node).sort(), ['a', 'b', 'c']);
  for (const v of views) assert.equal([...v.nodes].sort(), ['a', 'b', 'c']);
  assert.ok(views.every((v) => v.singleton === views[0]!.singleton && v.singleton !== null), JSON.stringify(views));
});

cluster('every node proxies to the upstream', async () => {
  const before = up.calls;
  for (const [i, url] of urls.entries()) {
    const r = await request(`${url}/api/item/${i}`);
    const body = await r.body.text();
    assert.is(r.statusCode, 200, `${url}: ${body}`);
  }
  assert.is(up.calls - before, 3);
});

cluster('stopping the script stops the nodes and the NATS servers it started', async () => {
  const natsUrls = /NATS cluster: (\S+)/.exec(out)?.[1]?.split(',') ?? [];
  assert.is(natsUrls.length, 3, out);
  script.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => script.once('exit', (c) => r(c)));
  assert.is(code, 0);
  const refused = await Promise.all(urls.map((u) => request(`${u}/_sluice/healthz`).then(() => false, () => true)));
  assert.equal(refused, [true, true, true]);
  const natsRefused = await Promise.all(natsUrls.map((u) => new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(u);
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  })));
  assert.equal(natsRefused, [true, true, true], 'no NATS server outlives the script');
});

cluster.run();
