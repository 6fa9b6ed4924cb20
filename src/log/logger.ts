// The node's log: JSON lines through pino. Everything below the CLI logs through the `LogFn` it is
// handed (TargetDeps.log, NodeOptions.log…), so modules never import pino; this module turns one
// pino logger into that function and into the access log.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { AccessRecord } from '../proxy/request-context.ts';

/** The log plumbing every module gets: a message and structured fields. */
export type LogFn = (line: string, fields?: Record<string, unknown>) => void;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One access line: who asked what, how sluice served it and how long it took. */
export interface AccessLine extends AccessRecord {
  requestId: string;
  target: string;
  method: string;
  path: string;
  status: number;
  totalMs: number;
}

export interface NodeLog {
  readonly pino: Logger;
  /** Lines carrying an `error` field go out at level error, the rest at info. */
  readonly log: LogFn;
  /** One line per proxied request, at info (msg "access"); a no-op when access lines are off. */
  readonly access: (line: AccessLine) => void;
  /** Applies a reloaded `log` section. */
  configure(o: { level: LogLevel; access: boolean }): void;
}

export interface NodeLogOptions {
  level: LogLevel;
  /** Write access lines (config `log.access`). */
  access: boolean;
  /** Where lines go: stdout when absent (tests pass a stream they read). */
  destination?: DestinationStream;
  /** Fields on every line (the node id). */
  base?: Record<string, unknown>;
}

/**
 * Each line's time as `"at":"<ISO 8601>"`, the key sluice's lines had before pino: operators' log
 * parsers and the fault tests read it.
 */
const atTime = (): string => `,"at":"${new Date().toISOString()}"`;

export function createNodeLog(o: NodeLogOptions): NodeLog {
  const logger = pino({ level: o.level, base: o.base ?? null, timestamp: atTime }, o.destination ?? pino.destination({ dest: 1, sync: true }));
  const log: LogFn = (line, fields) => {
    if (fields && 'error' in fields) logger.error(fields, line);
    else logger.info(fields ?? {}, line);
  };
  let accessOn = o.access && logger.isLevelEnabled('info');
  const access = (line: AccessLine): void => { if (accessOn) logger.info(line, 'access'); };
  const configure = (c: { level: LogLevel; access: boolean }): void => {
    logger.level = c.level;
    accessOn = c.access && logger.isLevelEnabled('info');
  };
  return { pino: logger, log, access, configure };
}

/** A log that writes nothing: the default of a node started without one (tests, the simulator). */
export const silentLog: NodeLog = createNodeLog({ level: 'silent', access: false });
