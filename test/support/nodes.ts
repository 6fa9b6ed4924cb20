// Starts in-process sluice nodes on free ports for HTTP tests, and stops them afterwards.
import { parseConfig } from '../../src/config/load.ts';
import { SluiceNode, type NodeOptions } from '../../src/node.ts';

export async function startNode(config: Record<string, unknown>, opts: NodeOptions = {}): Promise<SluiceNode> {
  const node = (config.node ?? {}) as Record<string, unknown>;
  return SluiceNode.start(parseConfig({ ...config, node: { port: 0, drainMs: 2_000, ...node } }), opts);
}
