// `sluice env` end to end: the CLI started as a child process, driven over JSON lines by a scripted
// agent (serve at 3 waiting or 5 ms of age), from reset to done; and its answers to bad input.
import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

class EnvProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  private exited: Error | undefined;
  constructor(args: string[] = []) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'env', ...args], { cwd: ROOT });
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      if (this.waiting) { const w = this.waiting; this.waiting = undefined; w.resolve(line); } else this.lines.push(line);
    });
    this.proc.once('exit', (code) => {
      this.exited = new Error(`sluice env exited with ${code}`);
      this.waiting?.reject(this.exited);
    });
  }
  async ask(msg: unknown): Promise<Record<string, any>> {
    this.proc.stdin.write((typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n');
    const line = this.lines.shift() ?? await new Promise<string>((resolve, reject) => {
      if (this.exited) reject(this.exited); else this.waiting = { resolve, reject };
    });
    return JSON.parse(line);
  }
  close(): void { this.proc.stdin.end(); this.proc.kill(); }
}

const env = suite('sluice env (JSON lines)', { timeoutMs: 60_000 });

env('a scripted agent runs an episode from reset to done; rewards add up to the episode\'s', async () => {
  const p = new EnvProcess();
  try {
    let r = await p.ask({ op: 'reset', pattern: 'bursts', seed: 3, durationMs: 1_500, maxWaitMs: 50 });
    assert.is(r.v, 1);
    assert.is(r.done, false);
    assert.is(r.observation.maxWaitMs, 50);
    let total = r.reward, steps = 0, serves = 0;
    while (!r.done) {
      const o = r.observation;
      const action = o.queueDepth >= 3 || o.slotAgeMs >= 5 ? 'SERVE' : 'WAIT';
      if (action === 'SERVE') serves++;
      r = await p.ask({ op: 'step', action });
      total += r.reward;
      steps++;
      assert.ok(steps < 100_000, 'the episode ends');
    }
    const result = r.info.result;
    assert.is(result.unanswered, 0);
    assert.is(result.answeredTwice, 0);
    assert.ok(result.maxHoldMs <= 50 + 1e-9);
    assert.ok(serves > 0 && result.calls < result.requests, `${result.calls} calls for ${result.requests} requests`);
    assert.ok(Math.abs(total - result.reward * result.requests) < 1e-6, `${total} vs ${result.reward * result.requests}`);
    assert.is(r.observation, null);
  } finally { p.close(); }
});

env('bad lines get an error line and the session goes on', async () => {
  const p = new EnvProcess();
  try {
    assert.match((await p.ask('not json')).error, 'JSON object');
    assert.match((await p.ask({ op: 'step', action: 'SERVE' })).error, 'reset first');
    assert.match((await p.ask({ op: 'reset', pattern: 'nope' })).error, 'unknown traffic pattern');
    assert.match((await p.ask({ op: 'reset', pattern: 'steady', maxBatchSize: 0 })).error, 'maxBatchSize');
    const ok = await p.ask({ op: 'reset', pattern: 'steady', durationMs: 500 });
    assert.is(ok.done, false);
    assert.match((await p.ask({ op: 'step', action: 'MAYBE' })).error, 'action');
    const names = await p.ask({ op: 'patterns' });
    assert.ok(['steady', 'bursts', 'diurnal', 'zipf', 'shift'].every((k) => k in names.patterns));
  } finally { p.close(); }
});

env('--replay FILE serves recorded telemetry as the episode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-replay-'));
  const file = join(dir, 'telemetry.jsonl');
  const records = [];
  for (let i = 0; i < 50; i++) records.push(JSON.stringify({ v: 1, node: 'n1', target: 'llm', at: 1_000 + i * 40, reason: 'timer', batchSize: 4, slotAgeMs: 20, arrivalRatePerMs: 0.2, upstreamMs: 70, meanHoldMs: 12, failed: false }));
  records.push('garbage', JSON.stringify({ v: 1, at: 5 }));
  writeFileSync(file, records.join('\n') + '\n');
  const p = new EnvProcess(['--replay', file]);
  try {
    let r = await p.ask({ op: 'reset', seed: 1, maxWaitMs: 20 });
    assert.is(r.info.requests, 200); // 50 slots × 4 requests; the 2 bad lines skipped
    while (!r.done) r = await p.ask({ op: 'step', action: 'WAIT' });
    assert.is(r.info.result.unanswered, 0);
  } finally { p.close(); }
});

env.run();
