// `sluice agent` (the reference policy agent over NATS) and `sluice env` (the policy environment
// over JSON lines on stdin/stdout, or a replay of recorded telemetry).
import { readFileSync } from 'node:fs';
import { NatsBus } from '../bus/nats-bus.ts';
import { InvalidConfigError } from '../errors.ts';
import { serveEnvironment } from '../policy/env-protocol.ts';
import { startPolicyAgent } from '../policy/agent-server.ts';
import { scenarioFromTelemetry } from '../policy/replay.ts';
import { seeded } from '../random.ts';

type Options = Record<string, string | boolean | undefined>;

const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stderr.write(JSON.stringify({ at: new Date().toISOString(), msg, ...fields }) + '\n');
};

export async function runAgentCommand(opts: Options): Promise<void> {
  const servers = typeof opts['nats'] === 'string' ? opts['nats'].split(',').filter(Boolean) : process.env['SLUICE_NATS']?.split(',');
  if (!servers?.length) throw new InvalidConfigError([{ path: '--nats', value: opts['nats'], expected: 'a comma-separated list of NATS URLs' }], 'command line');
  const cluster = typeof opts['cluster'] === 'string' ? opts['cluster'] : process.env['SLUICE_CLUSTER'] ?? 'default';
  const bus = await NatsBus.connect({ servers, name: 'sluice-policy-agent', ...(process.env['SLUICE_NATS_TOKEN'] ? { token: process.env['SLUICE_NATS_TOKEN'] } : {}) });
  let malformed = 0;
  const agent = startPolicyAgent({ bus, cluster, onMalformed: () => { malformed++; } });
  log('sluice policy agent answering', { cluster, subject: `sluice.${cluster}.policy.decide` });
  const report = setInterval(() => log('agent stats', { targets: agent.stats(), malformed }), 10_000);
  const stop = async (): Promise<void> => {
    clearInterval(report);
    agent.stop();
    await bus.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

export async function runEnvCommand(opts: Options): Promise<void> {
  const file = opts['replay'];
  if (file === true) throw new InvalidConfigError([{ path: '--replay', value: true, expected: 'a file of telemetry JSON lines' }], 'command line');
  const replay = typeof file === 'string' ? readFileSync(file, 'utf8') : undefined;
  if (replay !== undefined) {
    const probe = scenarioFromTelemetry(replay, seeded(1)); // fails early, naming the problem
    log('replaying telemetry', { file, records: probe.records, skipped: probe.skipped });
  }
  await serveEnvironment(process.stdin, process.stdout, replay === undefined ? {} : {
    replay: (seed) => scenarioFromTelemetry(replay, seeded(seed)).scenario,
  });
}
