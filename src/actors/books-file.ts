// A voter's copy of the strict books on disk (cluster.booksDir), so a restart keeps what it
// acknowledged. Without it the copies live in memory only and a majority of voters restarting within
// one window loses that window's books (docs/strict-limits.md, "Rolling restarts").
//
// JSON lines, appended before the voter acknowledges anything: a header naming the node and when its
// lineage of copies began, then one line per accepted update (entries, and the whole-books bound when
// the update completed a copy). Totals merge by taking the larger, so replaying the lines in any order
// rebuilds the copy. A line cut short by a crash was never acknowledged: it and anything after it are
// ignored. The file is rewritten whole (to a temporary file, then renamed) when the lines outgrow the
// copy.
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { BookCopy, checkEntry, parseEntries, type BookEntry } from '../limit/strict-books.ts';
import type { Json } from '../bus/bus.ts';
import { fields, mergeSynced, parseSynced, syncedToWire, type Synced } from './singleton-messages.ts';

const VERSION = 1;
/** Lines appended beyond this many entries over the copy's size rewrite the file. */
const COMPACT_SLACK_ENTRIES = 10_000;

/** What a file held when it was opened. */
export interface LoadedBooks {
  /** When this voter's lineage of copies began (its clock): every update it acknowledged since is in the copy. */
  readonly since: number;
  readonly entries: BookEntry[];
  readonly synced: Synced | undefined;
  /** Lines that could not be read (a line cut short by a crash, and any after it). */
  readonly skippedLines: number;
}

export class BooksFile {
  private appendedEntries = 0;

  private constructor(private readonly path: string, private readonly nodeId: string, readonly since: number) {}

  /**
   * Opens `path` for `nodeId`: loads what it holds (undefined when there is no file, or it belongs to
   * another node or version: a new lineage starts at `now` and the file is rewritten).
   */
  static open(path: string, nodeId: string, now: number): { file: BooksFile; loaded: LoadedBooks | undefined } {
    const loaded = existsSync(path) ? load(readFileSync(path, 'utf8'), nodeId) : undefined;
    const file = new BooksFile(path, nodeId, loaded?.since ?? now);
    file.rewrite(loaded?.entries ?? [], loaded?.synced); // compacted: load() merged the lines
    return { file, loaded };
  }

  /** Appends an accepted update; throws when the disk refuses (the voter must then not acknowledge it). */
  append(entries: readonly BookEntry[], synced?: Synced): void {
    if (!entries.length && !synced) return;
    appendFileSync(this.path, `${updateLine(entries, synced)}\n`);
    this.appendedEntries += entries.length;
  }

  /** Whether the appended lines have outgrown a copy of `size` entries enough to rewrite the file. */
  wantsRewrite(size: number): boolean { return this.appendedEntries > size + COMPACT_SLACK_ENTRIES; }

  /** Replaces the file with the copy as it is now (pruned), atomically. */
  rewrite(entries: readonly BookEntry[], synced: Synced | undefined): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ v: VERSION, node: this.nodeId, since: this.since })}\n${updateLine(entries, synced)}\n`);
    renameSync(tmp, this.path);
    this.appendedEntries = 0;
  }

  /** Removes the file (best effort: the disk may be gone). */
  remove(): void {
    try { rmSync(this.path, { force: true }); } catch { /* nothing more to do */ }
  }
}

/** One line of entries and, when the update completed a copy, its whole-books bound. */
const updateLine = (entries: readonly BookEntry[], synced: Synced | undefined): string =>
  JSON.stringify({ e: entries, ...(synced ? { s: syncedToWire(synced) } : {}) });

/** Reads a file's text; undefined when its header is not this node's (or not readable at all). */
export function load(text: string, nodeId: string): LoadedBooks | undefined {
  const lines = text.split('\n');
  const header = parseLine(lines[0] ?? '');
  if (!header || header.v !== VERSION || header.node !== nodeId || typeof header.since !== 'number' || !Number.isFinite(header.since)) return undefined;
  const copy = new BookCopy();
  let synced: Synced | undefined;
  let skippedLines = 0;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const o = parseLine(lines[i]!);
    const entries = o ? parseEntries(o.e) : undefined;
    const s = o?.s === undefined ? undefined : parseSynced(o.s);
    if (!o || !entries || (o.s !== undefined && !s)) { skippedLines = lines.slice(i).filter((l) => l !== '').length; break; }
    copy.merge(entries);
    if (s) synced = mergeSynced(synced, s);
  }
  return { since: header.since, entries: copy.all(), synced, skippedLines };
}

function parseLine(line: string): Record<string, Json> | undefined {
  try {
    return fields(JSON.parse(line) as Json);
  } catch {
    return undefined;
  }
}

/**
 * A voter's copy that writes every update to its file before it holds it. If the disk refuses, the
 * file is removed (the next start begins a new lineage, whose copy counts as complete only from then)
 * and the copy goes on in memory: `failed` says so, and the voter stops acknowledging (it answers
 * "later"), so nothing it holds only in memory counts toward a quorum.
 */
export class FileBackedCopy extends BookCopy {
  failed = false;

  constructor(private readonly file: BooksFile, private readonly synced: () => Synced | undefined) { super(); }

  override merge(entries: Iterable<BookEntry>): number {
    const list = [...entries];
    if (!this.failed) {
      for (const e of list) checkEntry(e); // a bad line would hide every line after it
      this.persist(() => this.file.append(list));
    }
    const changed = super.merge(list);
    if (!this.failed && this.file.wantsRewrite(this.size)) this.persist(() => this.file.rewrite(this.all(), this.synced()));
    return changed;
  }

  /** What the file held when opened: already on disk, so not written again. */
  load(entries: readonly BookEntry[]): void { super.merge(entries); }

  /** Writes a whole-books bound (after the entries that completed the copy). */
  noteSynced(s: Synced): void {
    if (!this.failed) this.persist(() => this.file.append([], s));
  }

  private persist(write: () => void): void {
    try {
      write();
    } catch {
      this.failed = true;
      this.file.remove();
    }
  }
}
