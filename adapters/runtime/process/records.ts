// The process runtime's layout on disk and its durable per-task record. Layout under the state
// directory:
//   tasks/<taskId>/record.json   the durable record (below); the task "exists" iff this file does
//   tasks/<taskId>/stdout.log    the process's stdout and stderr, appended across runs, kept after
//   tasks/<taskId>/stderr.log      removal (the newest maxRetainedLogs of removed tasks)
//   tasks/<taskId>/exit-status   written by the shim when the task's process ends: "<code>\n"
//   tasks/<taskId>/work/         the working directory (HOME); volume mounts are symlinks in it
//   tasks/<taskId>/secrets/      secret files, mode 0400, in a 0700 directory
//   volumes/<name>/              local volumes (the default place; the shell may choose another)
// Invariant: a record is replaced atomically (temporary file, fsync, rename, fsync of the
// directory), so a crash leaves either the old or the new record, never a torn one.

import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerSpec } from '../../../core/ports.ts';
import type { TaskId } from '../../../core/state/types.ts';

export interface TaskPaths {
  readonly dir: string;
  readonly record: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly exitStatus: string;
  readonly work: string;
  readonly secrets: string;
}

export const tasksDirOf = (stateDir: string): string => join(stateDir, 'tasks');

export function taskPaths(stateDir: string, taskId: string): TaskPaths {
  const dir = join(tasksDirOf(stateDir), taskId);
  return {
    dir,
    record: join(dir, 'record.json'),
    stdout: join(dir, 'stdout.log'),
    stderr: join(dir, 'stderr.log'),
    exitStatus: join(dir, 'exit-status'),
    work: join(dir, 'work'),
    secrets: join(dir, 'secrets'),
  };
}

const maxTaskIdChars = 200;
const safeNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Whether a name can be one path component under the state directory (no '/', no '..'). */
export function isSafeName(name: string): boolean {
  return name.length <= maxTaskIdChars && safeNamePattern.test(name) && name !== '.' && name !== '..';
}

/**
 * created: prepared, no process yet. starting: about to spawn (or spawned, pid not yet recorded).
 * running: the shim runs (pid, start time and boot id name it). exited: the run ended.
 */
export type RecordState = 'created' | 'starting' | 'running' | 'exited';

export interface TaskRecordFile {
  readonly format: 1;
  readonly taskId: TaskId;
  readonly spec: ContainerSpec;
  /** Resolved absolute path of the program and its arguments. */
  readonly executable: string;
  readonly argv: readonly string[];
  /** The process's whole environment (probes of kind exec run with it too). */
  readonly env: Readonly<Record<string, string>>;
  state: RecordState;
  /** The shim's pid, which is also the task's process group id. */
  pid: number | null;
  startTicks: string | null;
  bootId: string | null;
  startedAtMs: number | null;
  /** Null while not exited, and when the exit code is unknown (the machine rebooted meanwhile). */
  exitCode: number | null;
  oomKilled: boolean;
}

const recordStates: readonly RecordState[] = ['created', 'starting', 'running', 'exited'];

/** Reads a record; null if there is none or it is not one this runtime wrote. */
export function readRecordSync(path: string, taskId: string): TaskRecordFile | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Partial<TaskRecordFile>;
  if (r.format !== 1 || r.taskId !== taskId || !recordStates.includes(r.state as RecordState)) return null;
  if (typeof r.executable !== 'string' || !Array.isArray(r.argv) || typeof r.env !== 'object' || typeof r.spec !== 'object') return null;
  return r as TaskRecordFile;
}

export async function writeRecord(path: string, record: TaskRecordFile): Promise<void> {
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(JSON.stringify(record));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  await syncDirectory(dirname(path));
}

export function writeRecordSync(path: string, record: TaskRecordFile): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeFileSync(fd, JSON.stringify(record));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

export async function deleteRecord(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await syncDirectory(dirname(path));
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The exit code the shim recorded, or null if it recorded none (or only part of one). */
export function readExitStatusSync(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const match = /^(\d{1,3})\n$/.exec(text);
  return match === null ? null : Number(match[1]);
}

/**
 * Keeps the log directories of the newest `keep` removed tasks (those without a record), by the
 * time their directory last changed (their removal). Synchronous, so no create of a task id can
 * interleave with the deletion of that id's old directory; `busy` ids are left alone.
 */
export function pruneRemovedLogs(stateDir: string, keep: number, busy: (taskId: TaskId) => boolean): void {
  const removed: { dir: string; mtimeMs: number }[] = [];
  for (const name of readdirSync(tasksDirOf(stateDir))) {
    if (!isSafeName(name) || busy(name as TaskId)) continue;
    const paths = taskPaths(stateDir, name);
    if (existsSync(paths.record)) continue; // a record not loaded: leave it
    try {
      removed.push({ dir: paths.dir, mtimeMs: statSync(paths.dir).mtimeMs });
    } catch {
      // vanished meanwhile
    }
  }
  removed.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { dir } of removed.slice(keep)) rmSync(dir, { recursive: true, force: true });
}
