// Reads a Server-Sent Events stream as it passes through, to find the usage a streamed reply reports
// at its end (OpenAI's last chunk before `data: [DONE]`, Anthropic's `message_delta`). Parsing follows
// the WHATWG HTML "event stream interpretation" (§9.2.6): lines end in CRLF, LF or CR; chunks may
// split anywhere, even inside a UTF-8 character or between CR and LF. The gateway forwards the raw
// bytes untouched; this parser only watches, so a line longer than maxLineChars discards its event
// instead of buffering an upstream's garbage without bound.
import { InvalidArgumentError } from '../errors.ts';
import { UsageTally, usageObjectOf } from './tokens.ts';

export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  readonly type: string;
  /** The `data:` lines joined with LF. */
  readonly data: string;
  /** The last event id seen in the stream so far (it carries over, per the spec). */
  readonly id: string;
}

export interface SseParserOptions {
  /** Longest line or event data kept, in UTF-16 code units; integer ≥ 1. Default 1 MiB. */
  readonly maxLineChars?: number;
}

export const DEFAULT_SSE_MAX_LINE_CHARS = 1_048_576;

export class SseParser {
  private readonly maxLineChars: number;
  // The BOM is stripped by hand at the stream's start: the decoder would strip one after every flush.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private started = false;
  private line = '';
  private lineTooLong = false;
  private afterCR = false;
  private data = '';
  private eventType = '';
  private lastEventId = '';
  private eventBroken = false;
  private retry: number | undefined;
  private discarded = 0;

  constructor(options: SseParserOptions = {}) {
    const max = options.maxLineChars ?? DEFAULT_SSE_MAX_LINE_CHARS;
    if (!Number.isSafeInteger(max) || max < 1) throw new InvalidArgumentError(`maxLineChars must be an integer ≥ 1, got ${max}`);
    this.maxLineChars = max;
  }

  /** Feeds the next chunk; returns the events it completed. */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? this.decoder.decode() + chunk : this.decoder.decode(chunk, { stream: true });
    return this.feed(text);
  }

  /** The stream ended. Per the spec an event without its closing blank line is dropped, so this yields none. */
  end(): SseEvent[] {
    this.feed(this.decoder.decode());
    this.line = '';
    this.resetEvent();
    return [];
  }

  /** The last `retry:` value, ms. */
  get retryMs(): number | undefined { return this.retry; }

  /** Events dropped because a line or their data exceeded maxLineChars. */
  get discardedEvents(): number { return this.discarded; }

  private feed(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    if (this.afterCR && i < text.length) {
      this.afterCR = false;
      if (text.charCodeAt(i) === 0x0a) i++; // the LF of a CRLF split across chunks
    }
    while (i < text.length) {
      const end = nextLineEnd(text, i);
      if (end < 0) {
        this.append(text.slice(i));
        break;
      }
      this.append(text.slice(i, end));
      this.endLine(out);
      i = end + 1;
      if (text.charCodeAt(end) === 0x0d) {
        // A CR may be the first half of a CRLF: skip the LF here or at the next chunk's start.
        if (i === text.length) this.afterCR = true;
        else if (text.charCodeAt(i) === 0x0a) i++;
      }
    }
    return out;
  }

  private append(part: string): void {
    if (this.lineTooLong) return;
    if (this.line.length + part.length > this.maxLineChars) {
      this.lineTooLong = true;
      this.line = '';
    } else this.line += part;
  }

  private endLine(out: SseEvent[]): void {
    const line = this.line;
    this.line = '';
    if (this.lineTooLong) {
      this.lineTooLong = false;
      this.eventBroken = true;
      return;
    }
    if (line === '') return this.dispatch(out);
    if (line.charCodeAt(0) === 0x3a) return; // ':' starts a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (field) {
      case 'data':
        if (this.data.length + value.length + 1 > this.maxLineChars) this.eventBroken = true;
        else this.data += value + '\n';
        break;
      case 'event': this.eventType = value; break;
      case 'id': if (!value.includes('\u0000')) this.lastEventId = value; break;
      case 'retry': if (/^[0-9]+$/.test(value)) this.retry = Number(value); break;
      default: break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.eventBroken) {
      this.discarded++;
    } else if (this.data !== '') {
      out.push({ type: this.eventType || 'message', data: this.data.slice(0, -1), id: this.lastEventId });
    }
    this.resetEvent();
  }

  private resetEvent(): void {
    this.data = '';
    this.eventType = '';
    this.eventBroken = false;
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) return i;
  }
  return -1;
}

/**
 * Tokens a streamed reply reports using, or undefined. Reads every event's JSON data and folds the
 * usage objects found in order, so a usage split over events (Anthropic) adds up and a final total
 * (OpenAI's last chunk) wins. `[DONE]` and data that is not JSON are skipped.
 */
export function usageFromSse(events: Iterable<SseEvent>): number | undefined {
  const tally = new UsageTally();
  for (const e of events) {
    if (e.data === '[DONE]' || !e.data.includes('usage')) continue;
    let value: unknown;
    try { value = JSON.parse(e.data); } catch { continue; }
    tally.add(usageObjectOf(value));
  }
  return tally.total;
}
