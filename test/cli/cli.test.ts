// The `sluice` command as users run it: a child process, its first log line, exit codes.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { UpstreamStub } from '../support/upstream-stub.ts';

const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const cli = suite('sluice command', { timeoutMs: 60_000 }); // each test spawns node with tsx
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const firstLine = new Promise<string>((resolve) => {
    child.stdout.on('data', () => { const i = out.indexOf('\n'); if (i >= 0) resolve(out.slice(0, i)); });
    void exited.then(() => resolve(out));
  });
  return { child, exited, firstLine, output: () => ({ out, err }) };
}

cli('a bad config file exits non-zero naming the path, the value and the expectation', async () => {
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ targets: [{ name: 'x', prefix: '/x', replicas: ['http://h:1'], batch: { maxWaitMs: 'soon' } }] }));
  const p = run(['start', '--config', file]);
  assert.is(await p.exited, 2);
  assert.match(p.output().err, 'targets.0.batch.maxWaitMs: got "soon", expected a number');
});

cli('an unknown flag exits non-zero with its name', async () => {
  const p = run(['start', '--prot', '1']);
  assert.is(await p.exited, 2);
  assert.match(p.output().err, '--prot');
});

cli('start logs one line when listening, flags override the file, and SIGTERM drains and exits 0', async () => {
  const up = await UpstreamStub.start((_r, res) => { res.end('via cli'); });
  const file = join(dir, 'good.yaml');
  writeFileSync(file, `node: { id: from-file, port: 1 }\ntargets:\n  - name: u\n    prefix: /u\n    replicas: ["${up.url}"]\n`);
  const p = run(['start', '--config', file, '--port', '0', '--node-id', 'from-flag', '--cluster', 'flagged']);
  const line = JSON.parse(await p.firstLine) as { msg: string; node: string; cluster: string; bus: string };
  assert.is(line.node, 'from-flag');
  assert.is(line.cluster, 'flagged');
  assert.is(line.bus, 'local');
  const url = /listening on (\S+)/.exec(line.msg)![1]!;
  const r = await request(`${url}/u/x`);
  assert.is(await r.body.text(), 'via cli');
  assert.is(r.headers['x-sluice-node'], 'from-flag');
  p.child.kill('SIGTERM');
  assert.is(await p.exited, 0);
  await up.close();
});

cli.run();
