// `sluice env`: the policy environment over JSON lines (stdin → stdout), version 1, one request a
// line and one answer a line, for learners in any language (examples/ppo_agent.py trains a PPO
// agent on it with Gymnasium). docs/policies.md has the schema.
//
//   {"op":"reset","pattern":"steady","seed":1,"durationMs":60000,"maxWaitMs":100,"maxBatchSize":128,"latencyCostPerMs":0.01}
//   {"op":"step","action":"SERVE"}          (or "WAIT"; 1 and 0 are accepted too)
//   {"op":"patterns"}                       → the pattern names and what each is
//   → {"v":1,"observation":{…}|null,"reward":0.42,"done":false,"info":{…}}   or   {"v":1,"error":"…"}
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { FlushDecision } from '../batch/index.ts';
import { seeded } from '../random.ts';
import { EnvSession } from './env-session.ts';
import { patternNamed, PATTERNS, type Scenario } from './patterns.ts';

export const ENV_PROTOCOL_VERSION = 1;

export interface EnvServerOptions {
  /** A fixed scenario (from --replay) used by every reset instead of a named pattern. */
  readonly replay?: (seed: number) => Scenario;
}

/** Serves the protocol until `input` ends; resolves then. */
export async function serveEnvironment(input: Readable, output: Writable, o: EnvServerOptions = {}): Promise<void> {
  let session: EnvSession | undefined;
  const send = (msg: Record<string, unknown>): void => { output.write(JSON.stringify({ v: ENV_PROTOCOL_VERSION, ...msg }) + '\n'); };
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (line.trim() === '') continue;
    let req: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      req = parsed as Record<string, unknown>;
    } catch {
      send({ error: 'each line must be one JSON object' });
      continue;
    }
    try {
      switch (req['op']) {
        case 'patterns':
          send({ patterns: Object.fromEntries(Object.entries(PATTERNS).map(([k, p]) => [k, p.description])) });
          break;
        case 'reset': {
          const seed = intField(req, 'seed', 1);
          const durationMs = numField(req, 'durationMs', 60_000);
          const scenario = o.replay ? o.replay(seed) : patternNamed(String(req['pattern'] ?? 'steady')).build(durationMs, seeded(seed));
          session = new EnvSession({
            scenario, seed,
            maxWaitMs: numField(req, 'maxWaitMs', 100), maxBatchSize: intField(req, 'maxBatchSize', 128),
            latencyCostPerMs: numField(req, 'latencyCostPerMs', 0.01),
          });
          send({ ...(await session.reset()) });
          break;
        }
        case 'step': {
          if (!session) { send({ error: 'reset first' }); break; }
          send({ ...(await session.step(actionOf(req['action']))) });
          break;
        }
        default:
          send({ error: `unknown op ${JSON.stringify(req['op'])}: use reset, step or patterns` });
      }
    } catch (err) {
      send({ error: (err as Error).message });
    }
  }
}

function actionOf(a: unknown): FlushDecision {
  if (a === FlushDecision.Serve || a === 1) return FlushDecision.Serve;
  if (a === FlushDecision.Wait || a === 0) return FlushDecision.Wait;
  throw new Error(`'action' must be "SERVE", "WAIT", 1 or 0, got ${JSON.stringify(a)}`);
}

function numField(req: Record<string, unknown>, name: string, def: number): number {
  const v = req[name] ?? def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`'${name}' must be a non-negative number, got ${JSON.stringify(v)}`);
  return v;
}

function intField(req: Record<string, unknown>, name: string, def: number): number {
  const v = numField(req, name, def);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`'${name}' must be a positive integer, got ${v}`);
  return v;
}
