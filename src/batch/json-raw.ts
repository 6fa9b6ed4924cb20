// Byte-faithful JSON splitting for the merge strategies. Items and replies are validated with
// JSON.parse but passed on as their original text: re-serialising would round large integers
// (`12345678901234567890`) and rewrite numbers (`1.0` → `1`) that the caller or upstream may care about.
// The scanners assume their input already parsed, so they only track strings and nesting depth.

export type ParsedJson =
  | { readonly ok: true; readonly text: string; readonly value: unknown }
  | { readonly ok: false; readonly reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true }); // strips a leading BOM, rejects bad bytes

/** Decodes UTF-8 (RFC 8259 §8.1) and parses; `text` is trimmed of surrounding whitespace. */
export function parseJson(bytes: Uint8Array): ParsedJson {
  let text: string;
  try {
    text = utf8.decode(bytes).trim();
  } catch {
    return { ok: false, reason: 'is not valid UTF-8' };
  }
  if (text === '') return { ok: false, reason: 'is empty, expected one JSON value' };
  try {
    return { ok: true, text, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, reason: `is not valid JSON (${(e as Error).message})` };
  }
}

/** For error details: "an array", "a JSON object", "null"… */
export const describeJson = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : `a JSON ${typeof v}`;

/** The raw text of each element of a JSON array text that already parsed. */
export function arrayElements(text: string): string[] {
  return topLevelSegments(text);
}

/** The raw text of each member value of a JSON object text that already parsed; a repeated key keeps
 * the last value, as JSON.parse does. */
export function objectMembers(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const segment of topLevelSegments(text)) {
    const keyEnd = stringEnd(segment, 0);
    const key = JSON.parse(segment.slice(0, keyEnd + 1)) as string;
    const rest = segment.slice(keyEnd + 1).trimStart(); // starts with ':'
    out.set(key, rest.slice(1).trim());
  }
  return out;
}

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c;
const OPENERS = new Set([0x5b, 0x7b]); // [ {
const CLOSERS = new Set([0x5d, 0x7d]); // ] }

/** Splits the outermost array or object at its depth-1 commas; `[]`/`{}` give no segments. */
function topLevelSegments(text: string): string[] {
  const segments: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) { i = stringEnd(text, i); continue; }
    if (OPENERS.has(c)) {
      if (++depth === 1) start = i + 1;
    } else if (CLOSERS.has(c)) {
      if (--depth === 0) {
        const last = text.slice(start, i).trim();
        if (last !== '' || segments.length > 0) segments.push(last);
        break;
      }
    } else if (c === COMMA && depth === 1) {
      segments.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return segments;
}

/** Index of the quote closing the string that opens at `open`. */
function stringEnd(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return text.length;
}
