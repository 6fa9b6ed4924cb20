// Starts an example the way the README says (`npx sluice start --config examples/…`, here through the
// same bin file npx runs) with `--port 0` and the example's upstream variable pointing at a stub.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export interface RunningExample { url: string; proc: ChildProcess; output: () => string; stop: () => Promise<void> }

export function startExample(config: string, env: Record<string, string>): Promise<RunningExample> {
  const proc = spawn(process.execPath, [BIN, 'start', '--config', config, '--port', '0'], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const stop = () => new Promise<void>((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m) resolve({ url: m[1]!, proc, output: () => out, stop });
    });
    proc.stderr!.on('data', (d) => { out += d; });
    proc.once('exit', (code) => reject(new Error(`${config} exited with ${code}: ${out}`)));
  });
}
