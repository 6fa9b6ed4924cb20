// A bare proxy over sluice's Dispatcher alone (no gateway, limits or batching) with the replica choice
// swapped by SELECT: `least-loaded` (the default selector: least in flight + queued, two random
// choices above four replicas) or `round-robin`. Both rows of the dispatch bench run the same code
// but the choice. REPLICAS is a comma-separated list of base URLs. Prints its port.
import { createServer } from 'node:http';
import { Dispatcher, type ReplicaSelector } from '../../src/actors/dispatcher.ts';
import { realClock } from '../../src/clock.ts';
import { parseTarget } from '../../src/config/load.ts';
import { hasRoom } from '../../src/dispatch/index.ts';
import { NodeMetrics } from '../../src/metrics.ts';
import { listenAndReport } from './listen.ts';

/** Each replica in turn, skipping one whose breaker is open or whose queue is full. */
function roundRobin(): ReplicaSelector {
  let next = 0;
  return (loads) => {
    for (let k = 0; k < loads.length; k++) {
      const r = loads[(next + k) % loads.length]!;
      if (r.available && hasRoom(r)) { next = (next + k + 1) % loads.length; return r; }
    }
    return undefined;
  };
}

const select = process.env.SELECT === 'round-robin' ? roundRobin() : undefined;
const target = parseTarget({ name: 'bench', prefix: '/', replicas: process.env.REPLICAS!.split(','), batch: { mode: 'none' } });
const dispatcher = new Dispatcher(target, { clock: realClock, random: Math.random, metrics: new NodeMetrics(), select });

const server = createServer(async (req, res) => {
  req.resume();
  try {
    const { reply } = await dispatcher.call({ method: req.method ?? 'GET', path: req.url ?? '/', headers: {} }, { idempotent: true });
    res.writeHead(reply.status, { 'content-type': String(reply.headers['content-type'] ?? 'application/octet-stream') });
    reply.body.pipe(res);
  } catch {
    res.writeHead(502);
    res.end();
  }
});
listenAndReport(server);
