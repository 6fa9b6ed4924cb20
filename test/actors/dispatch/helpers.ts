// Shared by the dispatcher tests: a target config over stub replicas, a dispatcher on a virtual clock
// that records its events, and stubs that count how many calls they hold at once.
import { VirtualClock } from '../../../src/clock.ts';
import { parseTarget } from '../../../src/config/load.ts';
import type { TargetConfig } from '../../../src/config/schema.ts';
import { Dispatcher } from '../../../src/actors/dispatcher.ts';
import type { DispatchEvent, DispatcherDeps } from '../../../src/actors/dispatcher.ts';
import type { DispatchOptions } from '../../../src/actors/replica-set.ts';
import type { UpstreamCall } from '../../../src/proxy/upstream-client.ts';
import { NodeMetrics } from '../../../src/metrics.ts';
import { UpstreamStub, type StubHandler } from '../../support/upstream-stub.ts';

export function target(replicas: string[], overrides: Record<string, unknown> = {}): TargetConfig {
  return parseTarget({ name: 't', prefix: '/t', replicas, batch: { mode: 'none' }, timeoutMs: 60_000, ...overrides });
}

export interface Harness {
  d: Dispatcher;
  clock: VirtualClock;
  metrics: NodeMetrics;
  events: DispatchEvent[];
  /** Calls GET `path` and reads the whole body. */
  get(path?: string, o?: Partial<DispatchOptions> & { signal?: AbortSignal }): Promise<{ status: number; body: string; replica: string }>;
}

/**
 * A dispatcher on a virtual clock. With `autoAdvance` (the default) every scheduled retry moves the
 * clock by exactly its delay, so backoff is counted in virtual time and tests never sleep.
 */
export function harness(t: TargetConfig, o: Partial<DispatcherDeps> & { autoAdvance?: boolean; random?: () => number } = {}): Harness {
  const clock = (o.clock as VirtualClock | undefined) ?? new VirtualClock(1_000_000);
  const metrics = o.metrics ?? new NodeMetrics();
  const events: DispatchEvent[] = [];
  const d = new Dispatcher(t, {
    random: () => 0, ...o, clock, metrics,
    onEvent: (e) => {
      events.push(e);
      o.onEvent?.(e);
      // The backoff timer is set right after this event, in the same synchronous run.
      if (e.type === 'retry.scheduled' && o.autoAdvance !== false) queueMicrotask(() => clock.advance(e.delayMs));
    },
  });
  return {
    d, clock, metrics, events,
    async get(path = '/x', opts = {}) {
      const call: UpstreamCall = { method: 'GET', path, headers: {}, ...(opts.signal ? { signal: opts.signal } : {}) };
      const { reply, replica } = await d.call(call, { idempotent: opts.idempotent ?? true, affinityKey: opts.affinityKey });
      const chunks: Buffer[] = [];
      for await (const c of reply.body) chunks.push(c as Buffer);
      return { status: reply.status, body: Buffer.concat(chunks).toString(), replica };
    },
  };
}

/** A stub that answers `status` with its own name as body, and tracks calls open at once. */
export class TrackedStub {
  open = 0;
  maxOpen = 0;
  private constructor(readonly stub: UpstreamStub, readonly name: string) {}

  static async start(name: string, handler?: StubHandler): Promise<TrackedStub> {
    const stub = await UpstreamStub.start();
    const s = new TrackedStub(stub, name);
    s.answer(handler ?? ((_r, res) => { res.writeHead(200); res.end(name); }));
    return s;
  }

  get url(): string { return this.stub.url; }
  get calls(): number { return this.stub.calls; }
  arrived(n: number): Promise<void> { return this.stub.arrived(n); }

  /** Replaces how it answers; calls open at once are counted around the handler. */
  answer(handler: StubHandler): void {
    this.stub.handler = async (req, res) => {
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.once('close', () => { this.open--; });
      await handler(req, res);
    };
  }

  status(code: number, headers: Record<string, string> = {}): void {
    this.answer((_r, res) => { res.writeHead(code, headers); res.end(this.name); });
  }

  close(): Promise<void> { return this.stub.close(); }
}

/** Settles whatever `p` does, so a test can count answers without an unhandled rejection. */
export const settle = <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));

/** The numeric value of one sample of a metric, or undefined. */
export async function sample(metrics: NodeMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as Array<{ labels: Record<string, unknown>; value: number }> | undefined)
    ?.find((s) => Object.entries(labels).every(([k, want]) => String(s.labels[k]) === want));
  return v?.value;
}
