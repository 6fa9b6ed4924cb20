// The sluice command. Exits non-zero with a clear message on bad config; SIGTERM/SIGINT drain and exit 0.
import { realClock } from '../clock.ts';
import { applyOverrides, envOverrides, parseConfig, readConfigFile } from '../config/load.ts';
import { SluiceError } from '../errors.ts';
import { SluiceNode } from '../node.ts';
import { parseCli, USAGE, type StartArgs } from './args.ts';
import { startDemoUpstreams } from './demo.ts';

function log(line: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ at: new Date(realClock.now()).toISOString(), msg: line, ...fields }) + '\n');
}

async function start(args: StartArgs): Promise<void> {
  const raw = args.configPath ? readConfigFile(args.configPath) : {};
  const config = parseConfig(applyOverrides(raw, envOverrides(process.env), args.overrides), args.configPath ?? 'config');
  const demo = args.demo ? await startDemoUpstreams(config) : undefined;
  const node = await SluiceNode.start(config, { log });
  log(`sluice node ${node.id} listening on ${node.url}`, { node: node.id, cluster: config.cluster.name, bus: node.busKind, targets: config.targets.map((t) => t.prefix) });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('draining', { signal });
    await node.stop();
    await demo?.close();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const args = parseCli(argv);
  if (args.command === 'help') { process.stdout.write(USAGE + '\n'); return; }
  if (args.command === 'simulate') {
    const { runSimulateCommand } = await import('./simulate.ts');
    await runSimulateCommand(args.options);
    return;
  }
  if (args.command === 'agent' || args.command === 'env') {
    const { runAgentCommand, runEnvCommand } = await import('./policy-commands.ts');
    await (args.command === 'agent' ? runAgentCommand(args.options) : runEnvCommand(args.options));
    return;
  }
  if (args.command === 'start') await start(args);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`sluice: ${err instanceof SluiceError || (err as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? (err as Error).message : (err as Error)?.stack ?? err}\n`);
  process.exit(2);
});
