// Decides how many tokens a request is charged before the call, and how many it really used after.
// Before: a caller-supplied estimate header wins; else the JSON body's output cap (`max_tokens`) plus
// about one token per 4 bytes of prompt; else bytes / 4. After: the usage the upstream reports. The
// token limiter admits on the estimate and reconciles with the usage; anything malformed yields
// `undefined` (keep the estimate), never a throw — a reply we cannot read must not fail a request.
import { InvalidArgumentError } from '../errors.ts';

export const DEFAULT_TOKEN_ESTIMATE_HEADER = 'x-token-estimate';

/** Request headers keyed by lower-case name, as Node's IncomingHttpHeaders. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface TokenEstimateRequest {
  readonly headers?: HeaderBag;
  readonly body?: Uint8Array | string;
}

export interface TokenEstimateOptions {
  /** Header carrying the caller's own estimate (non-negative integer). Default `x-token-estimate`. */
  readonly header?: string;
}

// Rough bytes per token for English text under common BPE tokenizers; a pre-call estimate only.
const BYTES_PER_TOKEN = 4;

// Output caps across APIs: Chat Completions / Anthropic, newer Chat Completions, Responses API.
const OUTPUT_CAP_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export function estimateTokens(req: TokenEstimateRequest, options: TokenEstimateOptions = {}): number {
  const header = (options.header ?? DEFAULT_TOKEN_ESTIMATE_HEADER).toLowerCase();
  if (!HEADER_NAME.test(header)) throw new InvalidArgumentError(`token estimate header must be an HTTP header name, got ${JSON.stringify(options.header)}`);
  const fromHeader = countFromHeader(req.headers?.[header]);
  if (fromHeader !== undefined) return fromHeader;
  const body = req.body ?? '';
  const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  return outputCapOf(body) + Math.ceil(bytes / BYTES_PER_TOKEN);
}

function countFromHeader(value: string | readonly string[] | undefined): number | undefined {
  const v = typeof value === 'string' ? value : value?.[0];
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function outputCapOf(body: Uint8Array | string): number {
  const parsed = parseJsonObject(body);
  if (!parsed) return 0;
  for (const field of OUTPUT_CAP_FIELDS) {
    const n = parsed[field];
    if (isCount(n)) return n;
  }
  return 0;
}

/**
 * Tokens a JSON reply says it used: `usage.total_tokens`, else input + output
 * (`input_tokens`/`output_tokens` or `prompt_tokens`/`completion_tokens`). The usage object may sit
 * at the top, under `response` (Responses API events) or under `message` (Anthropic). An array
 * (a merged batch reply) sums its items. Accepts text, bytes or an already parsed value.
 */
export function usageFromJson(body: unknown): number | undefined {
  const value = typeof body === 'string' || body instanceof Uint8Array ? parseJson(body) : body;
  if (Array.isArray(value)) {
    let sum: number | undefined;
    for (const item of value) {
      const n = usageFromJson(item);
      if (n !== undefined) sum = (sum ?? 0) + n;
    }
    return sum;
  }
  const tally = new UsageTally();
  tally.add(usageObjectOf(value));
  return tally.total;
}

/** Finds the usage object of one JSON reply or stream event, wherever the API puts it. */
export function usageObjectOf(value: unknown): unknown {
  if (!isRecord(value)) return undefined;
  if (isRecord(value.usage)) return value.usage;
  if (isRecord(value.response) && isRecord(value.response.usage)) return value.response.usage;
  if (isRecord(value.message) && isRecord(value.message.usage)) return value.message.usage;
  return undefined;
}

/**
 * Folds usage objects seen in order. Streams report usage in parts (Anthropic: input in
 * `message_start`, the final output count in `message_delta`), so later fields overwrite earlier
 * ones and the total is known once both halves, or an explicit total, have been seen.
 */
export class UsageTally {
  private input: number | undefined;
  private output: number | undefined;
  private explicitTotal: number | undefined;

  add(usage: unknown): void {
    if (!isRecord(usage)) return;
    const input = pick(usage, 'input_tokens', 'prompt_tokens');
    const output = pick(usage, 'output_tokens', 'completion_tokens');
    if (input !== undefined) this.input = input;
    if (output !== undefined) this.output = output;
    const total = usage.total_tokens;
    if (isCount(total)) this.explicitTotal = total;
    else if (input !== undefined || output !== undefined) this.explicitTotal = undefined;
  }

  get total(): number | undefined {
    if (this.explicitTotal !== undefined) return this.explicitTotal;
    return this.input !== undefined && this.output !== undefined ? this.input + this.output : undefined;
  }
}

/**
 * What to charge on top of the estimate once usage is known: positive charges more, negative
 * refunds. Unknown usage keeps the estimate (0).
 */
export const tokenDelta = (estimatedTokens: number, usedTokens: number | undefined): number =>
  usedTokens === undefined ? 0 : usedTokens - estimatedTokens;

function pick(usage: Record<string, unknown>, a: string, b: string): number | undefined {
  const x = usage[a];
  if (isCount(x)) return x;
  const y = usage[b];
  return isCount(y) ? y : undefined;
}

function parseJsonObject(body: Uint8Array | string): Record<string, unknown> | undefined {
  // Skip the parse for bodies that cannot be a JSON object: most non-JSON bodies fail here cheaply.
  const first = typeof body === 'string' ? body.trimStart()[0] : firstNonSpaceByte(body);
  if (first !== '{') return undefined;
  const v = parseJson(body);
  return isRecord(v) ? v : undefined;
}

function firstNonSpaceByte(bytes: Uint8Array): string | undefined {
  for (const b of bytes) {
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return String.fromCharCode(b);
  }
  return undefined;
}

function parseJson(body: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
