// The daemon's structured logs (DESIGN.md: "logs JSON with context fields"): one pino logger per
// daemon writing JSON lines to stdout (or a file or stream), with node_id and role on every line and
// child loggers that add the ids of the objects an event is about (service_id, task_id, ...).
// Invariants:
//   - secret material never reaches a log line: values under the keys in secretKeys are replaced
//     by "[redacted]" at the top level and down to redactionDepth levels of nesting, in the fields
//     of each call and in child bindings alike;
//   - the level is chosen once, at creation: the option, else WARREN_LOG_LEVEL, else info; an
//     unknown level is a configuration error (LogConfigError), not a silent default;
//   - a log call never writes itself: lines are batched and written once per turn of the event
//     loop, in a bounded buffer (log-destination.ts); flushSync() writes out whatever is buffered,
//     in order, before the process exits.

import { closeSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino';
import { BatchedLogDestination, type LogDestinationOptions } from './log-destination.ts';

export type NodeRole = 'manager' | 'worker' | 'hybrid';

export const LOG_LEVEL_ENV = 'WARREN_LOG_LEVEL';
export const logLevels: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const REDACTED = '[redacted]';

/** Keys whose values are secret wherever they appear: secret payloads (value, plaintext), their
 * stored form (ciphertext), references (secret) and credentials. */
export const secretKeys: readonly string[] = ['value', 'secret', 'secrets', 'ciphertext', 'plaintext', 'password', 'token', 'privateKey', 'private_key'];
/** Nesting levels below the top at which secretKeys are redacted (`*.value`, `*.*.value`, ...). */
export const redactionDepth = 4;

export interface LoggingOptions {
  readonly nodeId: string;
  readonly role: NodeRole;
  /** Wins over the environment. */
  readonly level?: LevelWithSilent;
  /** Where WARREN_LOG_LEVEL is read. Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A file descriptor, a file path (appended to) or a stream. Default 1 (stdout). */
  readonly destination?: number | string | DestinationStream;
  /** More keys to redact, beside secretKeys. */
  readonly redactKeys?: readonly string[];
  /** Bounds of the buffer in front of a descriptor or file destination. */
  readonly buffer?: Omit<LogDestinationOptions, 'writeSync'>;
}

export interface DaemonLogging {
  readonly logger: Logger;
  readonly level: LevelWithSilent;
  /** Writes out everything buffered, synchronously (the last step of a shutdown). Never throws. */
  flushSync(): void;
  /** Lines lost to a full buffer or a failed descriptor (0 for a stream destination). */
  droppedLines(): number;
  /** flushSync, then closes the file if the destination was a path. Later lines are dropped. */
  close(): void;
}

/** The ids an event is about, as context fields. */
export interface ObjectIds {
  readonly service_id?: string;
  readonly task_id?: string;
  readonly secret_id?: string;
  readonly volume_id?: string;
  readonly ingress_id?: string;
  readonly certificate_id?: string;
  /** Another node the event is about (a peer, a worker); the logger's own is node_id. */
  readonly peer_id?: string;
}

export class LogConfigError extends Error {
  override readonly name = 'LogConfigError';
  constructor(
    readonly code: 'invalid-log-level' | 'invalid-redact-key',
    message: string,
  ) {
    super(message);
  }
}

export function createLogging(options: LoggingOptions): DaemonLogging {
  const level = resolveLevel(options);
  const redactPaths = redactionPaths([...secretKeys, ...(options.redactKeys ?? [])]);
  const { stream, ownedFd } = openDestination(options.destination ?? 1, options.buffer ?? {});
  const logger = pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname(), node_id: options.nodeId, role: options.role },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: REDACTED },
    },
    stream,
  );
  const flushSync = (): void => {
    const flushable = stream as Partial<{ flushSync(): void }>;
    try {
      flushable.flushSync?.();
    } catch {
      // Nothing left to report it to: the destination itself is what failed.
    }
  };
  let closed = false;
  return {
    logger,
    level,
    flushSync,
    droppedLines: () => (stream instanceof BatchedLogDestination ? stream.dropped : 0),
    close: () => {
      if (closed) return;
      closed = true;
      flushSync();
      if (stream instanceof BatchedLogDestination) stream.end();
      if (ownedFd !== null) closeSync(ownedFd);
    },
  };
}

/** A child logger whose lines carry the given object ids. */
export function withObjectIds(logger: Logger, ids: ObjectIds): Logger {
  return logger.child(ids);
}

/** The level from the option, else the environment, else info. Throws LogConfigError on an unknown one. */
export function resolveLevel(options: Pick<LoggingOptions, 'level' | 'env'>): LevelWithSilent {
  if (options.level !== undefined) return checkLevel(options.level, 'the level option');
  const fromEnv = (options.env ?? process.env)[LOG_LEVEL_ENV];
  if (fromEnv === undefined || fromEnv.trim() === '') return 'info';
  return checkLevel(fromEnv.trim().toLowerCase(), LOG_LEVEL_ENV);
}

/** pino redact paths for each key at the top level and under 1..redactionDepth levels of nesting. */
export function redactionPaths(keys: readonly string[]): string[] {
  const paths: string[] = [];
  for (const key of keys) {
    if (!/^[A-Za-z_$][\w$]*$/.test(key)) throw new LogConfigError('invalid-redact-key', `cannot redact key ${JSON.stringify(key)}: expected an identifier`);
    for (let depth = 0; depth <= redactionDepth; depth++) paths.push([...new Array<string>(depth).fill('*'), key].join('.'));
  }
  return paths;
}

function checkLevel(level: string, where: string): LevelWithSilent {
  if ((logLevels as readonly string[]).includes(level)) return level as LevelWithSilent;
  throw new LogConfigError('invalid-log-level', `${where}: unknown log level ${JSON.stringify(level)}; expected one of ${logLevels.join(', ')}`);
}

/** ownedFd: the file this logger opened (and closes). */
function openDestination(destination: number | string | DestinationStream, buffer: LogDestinationOptions): { stream: DestinationStream; ownedFd: number | null } {
  if (typeof destination === 'object') return { stream: destination, ownedFd: null };
  if (typeof destination === 'number') return { stream: new BatchedLogDestination(destination, buffer), ownedFd: null };
  const fd = openSync(destination, 'a');
  return { stream: new BatchedLogDestination(fd, buffer), ownedFd: fd };
}
