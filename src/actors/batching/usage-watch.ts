// Token usage of a reply read as its chunks stream past: an SSE stream's usage events, or a JSON
// body's `usage` object. It only watches; the bytes go to the clients untouched. A JSON body over
// `maxJsonBytes` is not kept (its usage stays unknown and the estimate stands).
import { SseParser, usageFromSse, type SseEvent } from '../../limit/sse.ts';
import { usageFromJson } from '../../limit/tokens.ts';

export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;

export class UsageWatch {
  private readonly sse: SseParser | undefined;
  private readonly events: SseEvent[] = [];
  private readonly json: Buffer[] | undefined;
  private jsonBytes = 0;

  constructor(contentType: string | undefined, private readonly maxJsonBytes = DEFAULT_MAX_JSON_BYTES) {
    const type = (contentType ?? '').toLowerCase();
    this.sse = type.includes('text/event-stream') ? new SseParser() : undefined;
    this.json = !this.sse && type.includes('json') ? [] : undefined;
  }

  push(chunk: Buffer): void {
    if (this.sse) {
      // Only events that may carry usage are kept, so a long stream does not pile up in memory.
      for (const e of this.sse.push(chunk)) if (e.data.includes('usage')) this.events.push(e);
    } else if (this.json) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes <= this.maxJsonBytes) this.json.push(chunk);
    }
  }

  /** Tokens the reply reports, once it has ended; undefined when it reports none we can read. */
  total(): number | undefined {
    if (this.sse) return usageFromSse(this.events);
    if (!this.json || this.jsonBytes > this.maxJsonBytes) return undefined;
    return usageFromJson(Buffer.concat(this.json));
  }
}
