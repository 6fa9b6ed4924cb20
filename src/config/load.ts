// Turns untrusted input (a file, the environment, CLI flags, an admin PUT body) into a frozen Config.
// Precedence: flags > environment (SLUICE_*) > file > defaults. Every error names the path, the
// value found and what was expected.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type { z } from 'zod';
import { InvalidConfigError, type ConfigIssue } from '../errors.ts';
import { configSchema, targetSchema, type Config, type TargetConfig } from './schema.ts';
import { portFrom, splitList } from './cli-values.ts';

export { portFrom, splitList };

// The YAML parser is loaded with the first YAML file: commands that read none (`sluice simulate`,
// which loads this module for its flags) skip a few hundred ms of module loading.
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

export interface Overrides {
  port?: number;
  nodeId?: string;
  nats?: string[];
  cluster?: string;
  adminToken?: string;
  logLevel?: string;
}

export function parseConfig(input: unknown, source = 'config'): Config {
  return deepFreeze(check(configSchema, input, source));
}

export function parseTarget(input: unknown, source = 'target'): TargetConfig {
  return deepFreeze(check(targetSchema, input, source));
}

/** Reads a JSON or YAML file (by extension; YAML otherwise) into a plain value. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidConfigError([{ path: '', value: path, expected: `a readable config file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})` }], path);
  }
  try {
    return extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidConfigError([{ path: '', value: (err as Error).message, expected: `valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}` }], path);
  }
}

/** Overrides from SLUICE_PORT, SLUICE_NODE_ID, SLUICE_NATS (comma list), SLUICE_CLUSTER, SLUICE_ADMIN_TOKEN, SLUICE_LOG_LEVEL. */
export function envOverrides(env: NodeJS.ProcessEnv): Overrides {
  const o: Overrides = {};
  if (env.SLUICE_PORT !== undefined) o.port = portFrom(env.SLUICE_PORT, 'SLUICE_PORT');
  if (env.SLUICE_NODE_ID) o.nodeId = env.SLUICE_NODE_ID;
  if (env.SLUICE_NATS) o.nats = splitList(env.SLUICE_NATS);
  if (env.SLUICE_CLUSTER) o.cluster = env.SLUICE_CLUSTER;
  if (env.SLUICE_ADMIN_TOKEN) o.adminToken = env.SLUICE_ADMIN_TOKEN;
  if (env.SLUICE_LOG_LEVEL) o.logLevel = env.SLUICE_LOG_LEVEL; // the schema checks it, naming log.level
  return o;
}


/** Applies overrides onto raw (unvalidated) file content, so the schema checks the merged result. */
export function applyOverrides(raw: unknown, ...layers: Overrides[]): unknown {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) return raw; // let the schema report it
  const out: Record<string, any> = { ...(raw as object | undefined) };
  const section = (k: string) => (out[k] = typeof out[k] === 'object' && out[k] !== null ? { ...out[k] } : out[k] ?? {});
  for (const o of layers) {
    if (o.port !== undefined) section('node').port = o.port;
    if (o.nodeId !== undefined) section('node').id = o.nodeId;
    if (o.cluster !== undefined) section('cluster').name = o.cluster;
    if (o.nats !== undefined) section('nats').servers = o.nats;
    if (o.adminToken !== undefined) section('admin').token = o.adminToken;
    if (o.logLevel !== undefined) section('log').level = o.logLevel;
  }
  return out;
}

function check<S extends z.ZodType>(schema: S, input: unknown, source: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new InvalidConfigError(r.error.issues.flatMap((i) => toIssues(i, input)), source);
}

function toIssues(issue: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: dotted([...path, k]), value: valueAt(input, [...path, k]), expected: 'no such key (unknown keys are errors)' }));
  }
  return [{ path: dotted(path), value: valueAt(input, path), expected: expectedFrom(issue) }];
}

/** `targets.0.batch`; a key that would make the dots ambiguous (empty, or holding a dot) is quoted: `a["x.y"]`. */
const dotted = (path: readonly string[]): string =>
  path.map((k, i) => (/^[^.\[\]"]+$/.test(k) ? (i === 0 ? k : '.' + k) : `[${JSON.stringify(k)}]`)).join('');

function expectedFrom(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': return issue.expected === 'object' ? 'an object' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
    case 'invalid_value': return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': return issue.origin === 'array' ? `at least ${issue.minimum} item(s)` : issue.origin === 'string' ? `at least ${issue.minimum} character(s)` : `a number ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big': return issue.origin === 'array' ? `at most ${issue.maximum} item(s)` : issue.origin === 'string' ? `at most ${issue.maximum} character(s)` : `a number ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'invalid_format': return issue.message.replace(/^Invalid string: must match pattern .*$/, 'a matching string');
    default: return issue.message.replace(/^Invalid input: expected /, '').replace(/^Invalid input$/, 'a valid value');
  }
}

function valueAt(input: unknown, path: readonly string[]): unknown {
  let v: any = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
