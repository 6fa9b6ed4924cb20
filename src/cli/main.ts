// The sluice command. Exits non-zero with a clear message on bad config; SIGTERM/SIGINT drain and
// exit 0; SIGHUP re-reads the config file and applies it live (a file that fails validation is
// refused and logged, and the running config stays).
// The config loader and the node (HTTP, NATS, metrics, logging) are imported only by `start`:
// `simulate` and the policy commands would otherwise pay over a second of module loading for code
// they never run.
import { SluiceError } from '../errors.ts';
import { parseCli, USAGE, type StartArgs } from './args.ts';

async function start(args: StartArgs): Promise<void> {
  const [{ applyOverrides, envOverrides, parseConfig, readConfigFile }, { expandEnvVars }, { createNodeLog }, { reloadFromFile }, { SluiceNode }, { startDemoUpstreams }] = await Promise.all([
    import('../config/load.ts'), import('../config/env-vars.ts'),
    import('../log/logger.ts'), import('../reload/reload-file.ts'), import('../node.ts'), import('./demo.ts'),
  ]);
  /** The config as `start` builds it: the file (its `${VAR}`s expanded), then SLUICE_* variables, then flags. */
  const loadConfig = (a: StartArgs) => {
    const raw = a.configPath ? expandEnvVars(readConfigFile(a.configPath), process.env, a.configPath) : {};
    return parseConfig(applyOverrides(raw, envOverrides(process.env), a.overrides), a.configPath ?? 'config');
  };
  const config = loadConfig(args);
  const logs = createNodeLog({ level: config.log.level, access: config.log.access });
  const demo = args.demo ? await startDemoUpstreams(config) : undefined;
  const node = await SluiceNode.start(config, { log: logs.log, access: logs.access });
  logs.pino.setBindings({ node: node.id });
  // The one line the contract promises at start, whatever log.level says.
  logs.pino.child({}, { level: 'info' }).info({ node: node.id, cluster: config.cluster.name, bus: node.busKind, targets: config.targets.map((t) => t.prefix) },
    `sluice node ${node.id} listening on ${node.url}`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logs.pino.info({ signal }, 'draining');
    await node.stop();
    await demo?.close();
    logs.pino.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => { if (!stopping) reloadFromFile(node, () => loadConfig(args), logs, args.configPath); });
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
