// How a target's upstream calls reach its replicas: the seam TargetRuntime calls through. The
// implementation is the Dispatcher (dispatcher.ts): least-loaded replicas with affinity, a breaker
// and a concurrency cap per replica, retries with backoff and a budget.
import type { UpstreamCall, UpstreamReply } from '../proxy/upstream-client.ts';

export interface DispatchOptions {
  /** Safe to send twice (idempotent method, or a batch its strategy marks safe). */
  idempotent: boolean;
  /** Session key for affinity, when the target configures one. */
  affinityKey?: string | undefined;
}

export interface DispatchResult { reply: UpstreamReply; replica: string }

export interface Dispatch {
  call(c: UpstreamCall, o: DispatchOptions): Promise<DispatchResult>;
  /** Live state of each replica, shown by `GET /_sluice/targets/<name>`. */
  describe(): unknown;
  close(): Promise<void>;
}
