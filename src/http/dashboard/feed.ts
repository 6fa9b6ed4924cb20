// The dashboard's data feed on one node: samples every metric of the node's registry each
// `sampleMs` on the node's clock into a SeriesRing, and pushes each sample to every page watching
// (server-sent events, written by events.ts). A page that connects gets the whole window first, so
// it draws the last minutes at once, then one small tick per sample.
import type { Clock, TimerId } from '../../clock.ts';
import { readingsOf, type MetricJson } from './readings.ts';
import { SeriesRing, type Point, type Window } from './series.ts';

/** What the page shows beside the charts: who is in the cluster and what each target is. */
export interface DashboardState {
  readonly node: string;
  readonly cluster: string;
  readonly nodes: readonly string[];
  readonly singleton: string | null;
  readonly targets: readonly TargetSummary[];
}

export interface TargetSummary {
  readonly name: string;
  readonly prefix: string;
  readonly mode: string;
  readonly replicas: readonly string[];
  readonly limits: ReadonlyArray<{ readonly name: string; readonly dimension: string; readonly limit: number; readonly windowMs: number; readonly mode: string; readonly per: unknown }>;
  readonly cache: boolean;
}

export interface FeedSource {
  metrics(): Promise<readonly MetricJson[]>;
  state(): DashboardState;
}

export type FeedEvent =
  | { readonly type: 'snapshot'; readonly data: { readonly sampleMs: number; readonly points: number; readonly window: Window; readonly state: DashboardState } }
  | { readonly type: 'tick'; readonly data: Point & { readonly state: DashboardState } };

/** One watching page. `send` reports false when the page cannot keep up (the feed then drops it). */
export interface Subscriber {
  send(event: FeedEvent): boolean;
  close(): void;
}

export interface FeedOptions { readonly sampleMs: number; readonly points: number; readonly maxSubscribers?: number }

export class DashboardFeed {
  private readonly ring: SeriesRing;
  private readonly subscribers = new Set<Subscriber>();
  private timer: TimerId | undefined;
  private running = false;
  private sampling: Promise<Point> | undefined;
  private samples = 0;

  constructor(private readonly source: FeedSource, private readonly clock: Clock, private readonly opts: FeedOptions) {
    this.ring = new SeriesRing({ points: opts.points });
  }

  /** Samples taken since start. */
  get sampleCount(): number { return this.samples; }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** Takes one sample now and sends it to every subscriber; concurrent calls share one sample. */
  sample(): Promise<Point> {
    this.sampling ??= this.takeSample().finally(() => { this.sampling = undefined; });
    return this.sampling;
  }

  /** Adds a page: it gets the window so far at once, then every tick. False when too many watch. */
  subscribe(s: Subscriber): boolean {
    if (this.subscribers.size >= (this.opts.maxSubscribers ?? 32)) return false;
    const snapshot: FeedEvent = {
      type: 'snapshot',
      data: { sampleMs: this.opts.sampleMs, points: this.opts.points, window: rounded(this.ring.window()), state: this.source.state() },
    };
    if (!s.send(snapshot)) { s.close(); return true; }
    this.subscribers.add(s);
    return true;
  }

  unsubscribe(s: Subscriber): void { this.subscribers.delete(s); }

  get watching(): number { return this.subscribers.size; }

  /** Stops sampling and ends every stream (a draining node must not wait on open pages). */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const s of this.subscribers) s.close();
    this.subscribers.clear();
  }

  private schedule(): void {
    if (!this.running) return;
    // On step boundaries of the clock, so every node's samples line up in time.
    const step = this.opts.sampleMs;
    const wait = step - (this.clock.now() % step);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.sample().catch(() => {}).finally(() => this.schedule());
    }, wait);
  }

  private async takeSample(): Promise<Point> {
    const metrics = await this.source.metrics();
    const point = this.ring.record(this.clock.now(), readingsOf(metrics));
    this.samples++;
    const event: FeedEvent = { type: 'tick', data: { ...point, values: roundValues(point.values), state: this.source.state() } };
    for (const s of this.subscribers) {
      if (!s.send(event)) { this.subscribers.delete(s); s.close(); }
    }
    return point;
  }
}

/** Four significant digits are more than a chart can show, and keep the snapshot small. */
const round = (v: number | null): number | null => (v === null ? null : Number(v.toPrecision(4)));

function roundValues(values: Readonly<Record<string, number | null>>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const k in values) out[k] = round(values[k]!);
  return out;
}

function rounded(w: Window): Window {
  return { t: w.t, series: w.series.map((s) => ({ ...s, values: s.values.map(round) })) };
}
