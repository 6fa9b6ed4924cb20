// The cluster bus: publish/subscribe, request/reply with a deadline, queue groups.
// Two implementations: LocalBus (in process, virtual-clock friendly) and NatsBus (the only module
// that imports `nats`). Payloads are plain JSON values wrapped in a versioned envelope (envelope.ts);
// a malformed or unknown-version message is dropped and counted, never thrown at a subscriber.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface BusMessage {
  subject: string;
  /** The decoded, validated payload. */
  data: Json;
  /** Present when the sender expects an answer (request/reply). */
  respond?: (data: Json) => void;
}

export type BusHandler = (msg: BusMessage) => void;

export interface Subscription {
  unsubscribe(): void;
}

export interface SubscribeOptions {
  /** Members of one queue group share the messages: each goes to one of them. */
  queue?: string;
}

export interface BusStats {
  published: number;
  received: number;
  /** Messages rejected on receipt: not JSON, not an envelope, or an unknown schema version. */
  malformed: number;
  /** Publishes the bus refused to send (larger than the server's max_payload, or a closing connection): lost like any at-most-once message, but counted. */
  dropped: number;
}

export interface Bus {
  /** Fire and forget, at most once. Never throws for a peer's absence. */
  publish(subject: string, data: Json): void;
  subscribe(subject: string, handler: BusHandler, options?: SubscribeOptions): Subscription;
  /** Rejects with BusTimeoutError after `timeoutMs`, or NoRespondersError when nobody listens. */
  request(subject: string, data: Json, timeoutMs: number): Promise<Json>;
  readonly stats: BusStats;
  close(): Promise<void>;
}

/** Subjects are namespaced per cluster: `sluice.<cluster>.<topic>`. */
export const subjectFor = (cluster: string, topic: string): string => `sluice.${cluster}.${topic}`;
