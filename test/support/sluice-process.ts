// Starts a sluice node as its own process (`sluice start --config FILE`), as users run it, and
// resolves once it logs that it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SluiceProcess { id: string; url: string; proc: ChildProcess }

export function startSluiceProcess(dir: string, id: string, config: Record<string, unknown>): Promise<SluiceProcess> {
  const file = join(dir, `${id}.json`);
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m) resolve({ id, url: m[1]!, proc });
    });
    proc.stderr!.on('data', (d) => { out += d; });
    proc.once('exit', (code) => reject(new Error(`node ${id} exited with ${code}: ${out}`)));
  });
}
