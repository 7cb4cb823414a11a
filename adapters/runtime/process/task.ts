// The process runtime's in-memory view of one task (its durable record plus the run in progress)
// and the configuration, validated once. Private to adapters/runtime/process.

import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { TaskId } from '../../../core/state/types.ts';
import type { ProcessIdentity } from './proc.ts';
import type { TaskPaths, TaskRecordFile } from './records.ts';

/** The plaintext of secret `name` for task `taskId` (the task whose creation needs it). */
export type ReadSecret = (name: string, taskId: TaskId) => Promise<string | Uint8Array>;

export interface ProcessRuntimeOptions {
  /**
   * Plaintext of a secret by name, for the task being created, from the shell (the daemon asks a
   * manager, which answers only for a task of this node whose spec names the secret). Without it,
   * creating a task that uses secrets fails.
   */
  readonly readSecret?: ReadSecret;
  /** Directory of a local volume; default <stateDir>/volumes/<name>. Created if missing. */
  readonly volumePath?: (volume: string) => string;
  /** PATH used to resolve programs and given to tasks; default the daemon's PATH. */
  readonly searchPath?: string;
  /** The POSIX shell that runs the shim; default /bin/sh. */
  readonly shellPath?: string;
  /** Where HTTP and TCP probes connect; default 127.0.0.1 (tasks share the host network). */
  readonly probeHost?: string;
  /** How often adopted processes are checked for exit and memory use measured; default 250 ms. */
  readonly pollIntervalMs?: number;
  /** Bound on tasks held at once (created, running or exited, until removed); default 512. */
  readonly maxTasks?: number;
  /** Bound on log directories of removed tasks kept on disk, newest first; default 100. */
  readonly maxRetainedLogs?: number;
}

export interface ProcessRuntimeConfig {
  readonly stateDir: string;
  readonly readSecret: ReadSecret | null;
  readonly volumePath: (volume: string) => string;
  readonly searchPath: string;
  readonly shellPath: string;
  readonly probeHost: string;
  readonly pollIntervalMs: number;
  readonly maxTasks: number;
  readonly maxRetainedLogs: number;
}

const fallbackSearchPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function processRuntimeConfig(stateDir: string, options: ProcessRuntimeOptions): ProcessRuntimeConfig {
  const config: ProcessRuntimeConfig = {
    stateDir,
    readSecret: options.readSecret ?? null,
    volumePath: options.volumePath ?? ((volume) => join(stateDir, 'volumes', volume)),
    searchPath: options.searchPath ?? process.env.PATH ?? fallbackSearchPath,
    shellPath: options.shellPath ?? '/bin/sh',
    probeHost: options.probeHost ?? '127.0.0.1',
    pollIntervalMs: options.pollIntervalMs ?? 250,
    maxTasks: options.maxTasks ?? 512,
    maxRetainedLogs: options.maxRetainedLogs ?? 100,
  };
  const positive = (n: number): boolean => Number.isInteger(n) && n >= 1;
  if (stateDir === '') throw new Error('the process runtime needs a state directory');
  if (!positive(config.pollIntervalMs)) throw new Error(`pollIntervalMs must be a positive integer, got ${config.pollIntervalMs}`);
  if (!positive(config.maxTasks)) throw new Error(`maxTasks must be a positive integer, got ${config.maxTasks}`);
  if (!Number.isInteger(config.maxRetainedLogs) || config.maxRetainedLogs < 0) {
    throw new Error(`maxRetainedLogs must be an integer >= 0, got ${config.maxRetainedLogs}`);
  }
  return config;
}

export interface RunEnd {
  readonly exitCode: number;
  readonly oomKilled: boolean;
}

/** One run of a task's process, from its spawn (or its adoption) to the delivery of its end. */
export interface Run {
  /** The shim as our child; null for a process adopted from an earlier daemon (polled instead). */
  readonly child: ChildProcess | null;
  /** The shim, which leads the task's process group: its pid is the group's id. */
  readonly identity: ProcessIdentity;
  /** Whose outcome reports the end: a stop or remove in flight, or nobody (an unasked `exited`). */
  owner: 'stop' | 'remove' | null;
  killedBy: 'grace' | 'memory' | 'remove' | null;
  graceTimer: NodeJS.Timeout | null;
  end: RunEnd | null;
  /** `started` went out (always true when adopted): an `exited` must never precede it. */
  announced: boolean;
  /** The end was recorded and handed to its owner, or sent unasked. */
  delivered: boolean;
  readonly done: Promise<RunEnd>;
  readonly resolveDone: (end: RunEnd) => void;
}

export interface RuntimeTask {
  readonly taskId: TaskId;
  readonly paths: TaskPaths;
  readonly record: TaskRecordFile;
  run: Run | null;
  /** Record writes, one after another, each writing the record as it is when it runs. */
  writes: Promise<void>;
}

export function newRun(child: ChildProcess | null, identity: ProcessIdentity, announced: boolean): Run {
  let resolveDone!: (end: RunEnd) => void;
  const done = new Promise<RunEnd>((resolve) => { resolveDone = resolve; });
  return { child, identity, owner: null, killedBy: null, graceTimer: null, end: null, announced, delivered: false, done, resolveDone };
}

/** The shell's convention: a process killed by signal N ends with 128 + N. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return 128 + (number ?? 0);
}
