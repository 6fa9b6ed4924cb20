// One upstream reply body written to every waiter of a coalesced slot, chunk by chunk as it arrives
// (SSE included: nothing is buffered whole). Sinks share the chunks by reference, so a body costs
// its size once, not once per waiter.
//
// Safe sharing: one slow or departed sink never holds up the others. The source is paused only when
// *every* sink is over its high-water mark (reading faster would help nobody); a sink that falls more
// than `maxBufferedBytes` behind the others is cut off; the upstream read is abandoned only when the
// last sink has gone. An upstream error mid-body cuts every sink: the status is already sent, so a
// cut connection is the only honest signal left.
//
// Late sinks (join in flight): while the body streams, the tee keeps what has passed, up to
// `keepBytes`, so a sink attached mid-body gets the whole body from its first byte: the kept chunks
// at once, then the live ones. Past `keepBytes` the kept chunks are let go (`onOverflow`) and no
// sink may attach any more: later requests open a new call. The kept chunks are the ones the other
// sinks were written, so keeping them costs nothing until they would otherwise have been collected.
import type { Readable, Writable } from 'node:stream';

export interface BodyTeeOptions {
  /** Bytes one sink may lag behind before it is cut off. Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Sees every chunk once (token usage in streamed replies). */
  readonly onChunk?: (chunk: Buffer) => void;
  /** The body ended (`true`) or was abandoned or failed (`false`); called once. */
  readonly onEnd?: (complete: boolean) => void;
  /** Bytes of body kept for sinks that attach after `start()`. Default 0: none may. */
  readonly keepBytes?: number;
  /** The body passed `keepBytes`: late sinks can no longer attach. Called at most once, never after `onEnd`. */
  readonly onOverflow?: () => void;
  /** Runs the next batch of sink ends on a later turn (see ENDS_PER_TURN). Default setImmediate. */
  readonly nextTurn?: (fn: () => void) => void;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Sinks ended per event-loop turn once the body has ended. Ending a response is one write syscall;
 * a hot key's call may answer a hundred clients, and a request that reached its socket while all of
 * them were being ended in one turn found the flight over and waited a whole new call (the steady
 * hot-key bench's p99). Between batches the node reads what arrived, and those requests still join
 * (they are written the kept body and ended at once).
 */
export const ENDS_PER_TURN = 16;

/** Told once when its sink has the whole body (`true`) or was cut or left (`false`). */
export interface TeeListener { bodyDone(complete: boolean): void }

const NOBODY: TeeListener = { bodyDone: () => {} };

class Sink {
  /** Over its high-water mark, with a `drain` listener waiting. */
  full = false;
  private settled = false;

  constructor(
    readonly out: Writable, private readonly tee: BodyTee, private readonly listener: TeeListener,
    /** Bytes this sink may lag before it is cut: more for a late sink, which is handed the kept body at once. */
    readonly allowance: number,
  ) {
    // One listener per sink: a response emits `close` both when it has finished and when its client
    // left early (writableFinished tells which). `drain` is listened to only while the sink is full.
    out.once('close', this.onClose);
  }

  finish(complete: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.listener.bodyDone(complete);
  }

  waitForDrain(): void {
    if (this.full) return;
    this.full = true;
    this.onDrain ??= (): void => { this.full = false; this.tee.resumeSource(); };
    this.out.once('drain', this.onDrain);
  }

  detach(): void {
    this.out.off('close', this.onClose);
    if (this.onDrain) this.out.off('drain', this.onDrain);
  }

  /** Made only for a sink that ever fills up: most never do. */
  private onDrain: (() => void) | undefined;

  private readonly onClose = (): void => {
    this.tee.drop(this);
    this.finish(this.out.writableFinished);
  };

}

export class BodyTee {
  private readonly sinks = new Set<Sink>();
  private started = false;
  private finished = false;
  /** The body ended whole and its sinks are being ended, a batch a turn: late sinks may still attach. */
  private ending = false;
  private paused = false;
  private readonly maxBuffered: number;
  /** What has passed, while within `keepBytes`; undefined once past it. */
  private kept: Buffer[] | undefined = [];
  private keptBytes = 0;
  private complete = false;

  constructor(private readonly source: Readable, private readonly o: BodyTeeOptions = {}) {
    this.maxBuffered = o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  get sinkCount(): number { return this.sinks.size; }

  /** A sink may still attach: before `start()`, or while the body streams within `keepBytes`. */
  get attachable(): boolean { return !this.started || ((!this.finished || this.ending) && this.kept !== undefined); }

  /** The whole body, once it ended complete within `keepBytes`; else undefined. */
  get body(): Buffer | undefined {
    return this.complete && this.kept ? Buffer.concat(this.kept, this.keptBytes) : undefined;
  }

  /**
   * Adds a sink; `listener` hears once whether it got the whole body. After `start()` the sink is
   * first written what has passed (see `attachable`; attaching when not is a bug and throws).
   */
  attach(out: Writable, listener: TeeListener = NOBODY): void {
    if (!this.started) { this.sinks.add(new Sink(out, this, listener, this.maxBuffered)); return; }
    if (!this.attachable) throw new Error('BodyTee: attach after the body ended or passed keepBytes');
    const sink = new Sink(out, this, listener, this.maxBuffered + this.keptBytes);
    this.sinks.add(sink);
    let ready = true;
    for (const chunk of this.kept!) ready = out.write(chunk);
    if (this.ending) { out.end(); return; } // the whole body is kept: this one is done
    if (ready) this.resumeSource(); // a sink that can take more: the source need not wait
    else sink.waitForDrain();
  }

  /** Starts reading the source; with no sink attached the source is abandoned at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.source.on('error', () => this.fail());
    if (this.sinks.size === 0) { this.abandon(); return; }
    this.source.on('data', (chunk: Buffer) => this.onData(chunk));
    this.source.on('end', () => this.onEnd());
  }

  /** @internal A sink closed or was cut. */
  drop(sink: Sink): void {
    if (!this.sinks.delete(sink)) return;
    sink.detach();
    if (this.started && !this.finished && this.sinks.size === 0) this.abandon();
    else this.resumeSource(); // the one holding the source back may just have gone
  }

  /** @internal */
  resumeSource(): void {
    if (!this.paused || this.finished) return;
    this.paused = false;
    this.source.resume();
  }

  private onData(chunk: Buffer): void {
    this.o.onChunk?.(chunk);
    this.keep(chunk);
    let anyReady = false;
    for (const sink of this.sinks) {
      const { out } = sink;
      if (out.destroyed || out.writableEnded) { this.drop(sink); continue; }
      if (out.write(chunk)) anyReady = true;
      else if (out.writableLength > sink.allowance) this.cut(sink);
      else sink.waitForDrain();
    }
    if (this.sinks.size === 0) { this.abandon(); return; }
    if (!anyReady) { this.paused = true; this.source.pause(); }
  }

  private keep(chunk: Buffer): void {
    if (!this.kept) return;
    this.keptBytes += chunk.length;
    if (this.keptBytes <= (this.o.keepBytes ?? 0)) { this.kept.push(chunk); return; }
    this.kept = undefined;
    this.keptBytes = 0;
    this.o.onOverflow?.();
  }

  private onEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.complete = true;
    this.ending = true;
    this.endFrom([...this.sinks], 0);
  }

  /** Ends the sinks of `list` from `from`, ENDS_PER_TURN a turn; `onEnd` once all are. */
  private endFrom(list: readonly Sink[], from: number): void {
    const to = Math.min(list.length, from + ENDS_PER_TURN);
    for (let i = from; i < to; i++) {
      const { out } = list[i]!;
      if (!out.destroyed && !out.writableEnded) out.end();
    }
    if (to < list.length) { (this.o.nextTurn ?? setImmediate)(() => this.endFrom(list, to)); return; }
    this.ending = false;
    this.o.onEnd?.(true);
  }

  private fail(): void {
    if (this.finished) return;
    this.finished = true;
    for (const sink of [...this.sinks]) this.cut(sink);
    this.o.onEnd?.(false);
  }

  /** Nobody is left to read the body: stop the upstream read (aborts its connection). */
  private abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.source.destroy();
    this.o.onEnd?.(false);
  }

  private cut(sink: Sink): void {
    this.drop(sink);
    sink.out.destroy();
    sink.finish(false);
  }
}
