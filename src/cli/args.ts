// `sluice start --config FILE [--port N] [--node-id ID] [--nats URL,URL] [--cluster NAME]` and
// `sluice simulate …`. Flags override the environment, which overrides the file.
import { parseArgs } from 'node:util';
import { InvalidConfigError } from '../errors.ts';
import { portFrom, splitList } from '../config/cli-values.ts';
import type { Overrides } from '../config/load.ts';

export interface StartArgs { command: 'start'; configPath: string | undefined; overrides: Overrides; demo: boolean }
export interface SimulateArgs { command: 'simulate'; options: Record<string, string | boolean | undefined> }
export interface PolicyToolArgs { command: 'agent' | 'env'; options: Record<string, string | boolean | undefined> }
export type CliArgs = StartArgs | SimulateArgs | PolicyToolArgs | { command: 'help' };

export const USAGE = `usage:
  sluice start --config FILE [--port N] [--node-id ID] [--nats URL,URL] [--cluster NAME] [--demo]
  sluice simulate [--nodes N] [--seconds S] [--limit N] [--mode approximate|strict] [--chart FILE]
  sluice agent --nats URL,URL [--cluster NAME]     the reference flush-policy agent
  sluice env [--replay FILE]                       the policy environment, JSON lines on stdin/stdout`;

export function parseCli(argv: string[]): CliArgs {
  const [command, ...rest] = argv;
  if (command === 'start') {
    const { values } = parseArgs({
      args: rest, strict: true,
      options: {
        config: { type: 'string', short: 'c' }, port: { type: 'string' }, 'node-id': { type: 'string' },
        nats: { type: 'string' }, cluster: { type: 'string' }, demo: { type: 'boolean', default: false },
      },
    });
    const overrides: Overrides = {};
    if (values.port !== undefined) overrides.port = portFrom(values.port, '--port');
    if (values['node-id'] !== undefined) overrides.nodeId = values['node-id'];
    if (values.nats !== undefined) overrides.nats = splitList(values.nats);
    if (values.cluster !== undefined) overrides.cluster = values.cluster;
    return { command: 'start', configPath: values.config, overrides, demo: values.demo ?? false };
  }
  if (command === 'simulate') {
    const { values } = parseArgs({ args: rest, strict: false });
    return { command: 'simulate', options: values };
  }
  if (command === 'agent' || command === 'env') {
    const { values } = parseArgs({
      args: rest, strict: true,
      options: command === 'agent' ? { nats: { type: 'string' }, cluster: { type: 'string' } } : { replay: { type: 'string' } },
    });
    return { command, options: values as Record<string, string | undefined> };
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  throw new InvalidConfigError([{ path: 'command', value: command, expected: '"start", "simulate", "agent" or "env"' }], 'command line');
}
