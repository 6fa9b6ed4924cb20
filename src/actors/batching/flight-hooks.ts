// The two seams a response cache (or anything else that wants to answer before a call, or to see a
// call's reply) plugs into coalescing. A coalesced "flight" is one upstream call shared by every
// identical request that joins it, from its flush until its reply's body is complete.
//
//   request ─▶ admission ─▶ lookup(key) ──hit──▶ answered from the stored reply, no flight
//                              │miss
//                              ▼
//                     join the flight in the air, or open one ─▶ upstream call
//                              ─▶ head fans out, body streams to every joiner ─▶ completed(flight)
//
// Both run on the request path: keep them cheap and never throw (a throw is contained and logged,
// and the request goes on as if the hook were absent).
import type { BatchKey } from '../../batch/index.ts';
import type { HeaderMap } from '../../proxy/headers.ts';

/** A reply kept from an earlier flight, written as is (status, headers, whole body). */
export interface StoredReply {
  readonly status: number;
  /** End-to-end headers to send (the hook adds its own, e.g. `Cache-Status`, `Age`). */
  readonly headers: Readonly<HeaderMap>;
  readonly body: Buffer;
}

/** What a lookup knows of the request: enough to match `Vary`, `Cache-Control` and the method. */
export interface FlightRequest {
  readonly method: string;
  /** Path and query as sent upstream. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Epoch ms, the node's clock. */
  readonly receivedAt: number;
}

/** A flight whose reply body has ended: told once per flight that got a reply (not on failures). */
export interface CompletedFlight {
  readonly key: BatchKey;
  readonly slotId: string;
  /** The request the call was made with (the flight's first waiter). */
  readonly request: FlightRequest;
  readonly status: number;
  /** The upstream's reply headers, end-to-end only. */
  readonly headers: Readonly<HeaderMap>;
  /**
   * The whole body when it ended complete within `batch.maxJoinBytes` and the reply was shareable;
   * undefined when it was cut, failed, was abandoned (every client left), outgrew the bound, or was
   * private (`Set-Cookie`, `Cache-Control: private | no-store`).
   */
  readonly body: Buffer | undefined;
  /** Epoch ms the call was made and its head came back. */
  readonly requestedAt: number;
  readonly respondedAt: number;
  /** Clients the flight answered. */
  readonly size: number;
}

export interface FlightHooks {
  /**
   * Asked for every coalescible request after its client admission, before it joins a flight:
   * return a stored reply to answer it with no flight at all (a cache hit), or undefined to go on.
   * A promise is awaited (a remote store); a plain value costs no await hop.
   */
  lookup?(key: BatchKey, request: FlightRequest): StoredReply | undefined | Promise<StoredReply | undefined>;
  /** A flight's reply body ended (see CompletedFlight.body for when it is there). */
  completed?(flight: CompletedFlight): void;
}
