// Watches a reply body on its way to the client for the token usage it reports, without changing a
// byte: a JSON body is kept (up to maxJsonBytes) and read at its end; an SSE stream is parsed as it
// flows and its usage events folded (OpenAI's final chunk, Anthropic's message_start + message_delta).
// A compressed, oversized, cut-short or unreadable body reports no usage, so the estimate stands.
import { Transform, type TransformCallback } from 'node:stream';
import { SseParser, usageFromSse, type SseEvent } from '../../limit/sse.ts';
import { usageFromJson } from '../../limit/tokens.ts';

export const DEFAULT_MAX_METERED_JSON_BYTES = 4 * 1024 * 1024;

type Mode = 'json' | 'sse' | 'off';

export function meterModeFor(contentType: string | undefined, contentEncoding: string | undefined): Mode {
  if (contentEncoding && contentEncoding.toLowerCase() !== 'identity') return 'off';
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  return 'off';
}

export class UsageMeter extends Transform {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private mode: Mode;
  private readonly parser: SseParser | undefined;
  private readonly usageEvents: SseEvent[] = [];
  private result: number | undefined;
  private ended = false;

  constructor(mode: Mode, private readonly maxJsonBytes = DEFAULT_MAX_METERED_JSON_BYTES) {
    super();
    this.mode = mode;
    this.parser = mode === 'sse' ? new SseParser() : undefined;
  }

  /** Tokens the reply reported, once it has ended; undefined before, or when it reported none. */
  get tokens(): number | undefined { return this.result; }

  /** The whole body went through. */
  get complete(): boolean { return this.ended; }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.mode === 'json') {
      this.size += chunk.length;
      if (this.size > this.maxJsonBytes) {
        this.mode = 'off';
        this.chunks.length = 0;
      } else this.chunks.push(chunk);
    } else if (this.mode === 'sse') {
      for (const e of this.parser!.push(chunk)) if (e.data.includes('usage')) this.usageEvents.push(e);
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.ended = true;
    if (this.mode === 'json') this.result = usageFromJson(Buffer.concat(this.chunks, this.size));
    else if (this.mode === 'sse') {
      this.parser!.end();
      this.result = usageFromSse(this.usageEvents);
    }
    done();
  }
}
