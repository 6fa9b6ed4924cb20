// SIGHUP to a real `sluice start` process under steady load: the reloaded file's new limit and added
// replica apply with no failed request; a bad file is refused and logged naming the path and value,
// and the node keeps serving; a changed port is logged as needing a restart, not applied.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startSluiceProcess, type SluiceProcess } from '../support/sluice-process.ts';
import { UpstreamStub } from '../support/upstream-stub.ts';

const sighup = suite('sluice start: SIGHUP reload', { timeoutMs: 90_000 });
const dir = mkdtempSync(join(tmpdir(), 'sluice-hup-'));
let a: UpstreamStub;
let b: UpstreamStub;
let node: SluiceProcess;
const lines: Array<Record<string, unknown>> = [];
let lineWaiters: Array<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];

const config = (replicas: string[], limit: number, port = 0) => ({
  node: { id: 'hup', port }, log: { access: false },
  targets: [{ name: 'api', prefix: '/api', replicas, batch: { mode: 'none' }, limits: [{ name: 'rpm', limit, windowMs: 3_600_000 }] }],
});

/** The first log line (already written or to come) that matches; fails after 10 s. */
function logLine(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const seen = lines.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no such log line; saw: ${lines.map((l) => l.msg).join(' | ')}`)), 10_000);
    lineWaiters.push({ match, resolve: (l) => { clearTimeout(t); resolve(l); } });
  });
}

/** Steady load: `workers` loops of GETs until stopped; every answer that is not a 200 is a failure. */
function steadyLoad(workers: number) {
  let running = true;
  const r = { ok: 0, failed: [] as string[] };
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const res = await request(`${node.url}/api/x`);
        await res.body.text();
        if (res.statusCode === 200) r.ok++; else r.failed.push(String(res.statusCode));
      } catch (err) { r.failed.push(String(err)); }
    }
  });
  return { result: r, stop: async () => { running = false; await Promise.all(loops); return r; } };
}

sighup.before(async () => {
  a = await UpstreamStub.start();
  b = await UpstreamStub.start();
  node = await startSluiceProcess(dir, 'hup', config([a.url], 100_000));
  let buf = '';
  node.proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let l: Record<string, unknown>;
      try { l = JSON.parse(text) as Record<string, unknown>; } catch { continue; }
      lines.push(l);
      lineWaiters = lineWaiters.filter((w) => (w.match(l) ? (w.resolve(l), false) : true));
    }
  });
});
sighup.after(async () => {
  node.proc.kill('SIGTERM');
  await a.close();
  await b.close();
});

sighup('a reload under load fails no request; the new limit shows, the new replica takes calls, a bad file is refused', async () => {
  const load = steadyLoad(6);
  await a.arrived(50);

  // A good file: a new limit, a second replica, and a port change that needs a restart.
  writeFileSync(join(dir, 'hup.json'), JSON.stringify(config([a.url, b.url], 200_000, 1)));
  node.proc.kill('SIGHUP');
  const reloaded = await logLine((l) => l.msg === 'config reloaded');
  assert.equal((reloaded.changed as Array<{ target: string }>).map((c) => c.target), ['api']);
  const restart = await logLine((l) => l.path === 'node.port');
  assert.match(String(restart.msg), 'restart needed');
  assert.is(restart.level, 40, 'logged as a warning');
  await b.arrived(50); // the added replica takes calls
  const d = (await (await request(`${node.url}/_sluice/targets/api`)).body.json()) as { limitState: Array<{ limit: number }> };
  assert.is(d.limitState[0]!.limit, 200_000);

  // A bad file: refused, logged with the path and the value, and the node keeps serving.
  writeFileSync(join(dir, 'hup.json'), JSON.stringify(config([a.url, b.url], -5)));
  node.proc.kill('SIGHUP');
  const refused = await logLine((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload refused'));
  assert.is(refused.level, 50);
  const issues = refused.issues as Array<{ path: string; value: unknown }>;
  assert.ok(issues.some((i) => i.path === 'targets.0.limits.0.limit' && i.value === -5), JSON.stringify(issues));
  const served = load.result.ok;
  await a.arrived(a.calls + 20);
  await b.arrived(b.calls + 20);
  assert.ok(load.result.ok > served, 'still serving after the refused file');
  const d2 = (await (await request(`${node.url}/_sluice/targets/api`)).body.json()) as { limitState: Array<{ limit: number }> };
  assert.is(d2.limitState[0]!.limit, 200_000, 'the running config stays');

  const r = await load.stop();
  assert.equal(r.failed, [], `${r.failed.length} of ${r.ok + r.failed.length} requests failed`);
  assert.ok(r.ok > 100);
});

sighup.run();
