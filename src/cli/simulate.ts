// `sluice simulate`: a whole cluster in one process on the virtual clock (filled in by the limiter work).
export async function runSimulateCommand(_options: Record<string, string | boolean | undefined>): Promise<void> {
  process.stdout.write('sluice simulate: not available yet\n');
  process.exitCode = 2;
}
