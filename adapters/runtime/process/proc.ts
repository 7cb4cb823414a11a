// What the process runtime learns about processes from Linux's /proc, and how it signals them.
// A pid alone does not name a process (pids are reused), so a task's process is named by its pid,
// its start time (clock ticks since boot, field 22 of /proc/<pid>/stat) and the boot id: only the
// same process can match all three. Without /proc (not Linux) liveness falls back to kill(pid, 0)
// and pid reuse goes undetected; Linux is the platform the process runtime is built for.
// Everything here is synchronous and cheap: a few small reads per call.

import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  /** R, S, D, T, Z (zombie), X (dead), ... */
  readonly state: string;
  readonly parent: number;
  readonly processGroup: number;
  /** Start time in clock ticks since boot, kept as text (it can exceed 2^53 in theory). */
  readonly startTicks: string;
}

/** Who a task's process is: enough to tell it from a later process that reuses its pid. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: string | null;
  readonly bootId: string | null;
}

export const procAvailable: boolean = existsSync('/proc/self/stat');

export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 of proc(5); field n is fields[n - 3].
  const startTicks = fields[19];
  if (fields[0] === undefined || startTicks === undefined) return null;
  return { state: fields[0], parent: Number(fields[1]), processGroup: Number(fields[2]), startTicks };
}

let bootIdCache: string | null | undefined;

/** The kernel's id of this boot: a process recorded under another boot id is gone. */
export function currentBootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

/** The identity of a process that runs now (null start time where /proc is unavailable). */
export function identify(pid: number): ProcessIdentity {
  return { pid, startTicks: readStat(pid)?.startTicks ?? null, bootId: currentBootId() };
}

/** Whether the identified process still runs (a zombie does not: it has ended). */
export function isAlive(identity: ProcessIdentity): boolean {
  if (!procAvailable) {
    try {
      process.kill(identity.pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  if (identity.bootId !== null && identity.bootId !== currentBootId()) return false;
  const stat = readStat(identity.pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return false;
  return identity.startTicks === null || stat.startTicks === identity.startTicks;
}

/** Whether the identity was recorded during an earlier boot of this machine. */
export function fromEarlierBoot(identity: ProcessIdentity): boolean {
  return identity.bootId !== null && currentBootId() !== null && identity.bootId !== currentBootId();
}

/**
 * Sends a signal to every process of a group. A group that no longer exists (ESRCH) or is no
 * longer ours (EPERM: its id was reused by another user's process) is not an error: it has ended.
 */
export function signalGroup(processGroup: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(processGroup) || processGroup <= 1) throw new Error(`refusing to signal process group ${processGroup}`);
  try {
    process.kill(-processGroup, signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH' && code !== 'EPERM') throw error;
  }
}

function numericEntries(): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Resident memory summed over the live processes of each of the given groups (one /proc scan). */
export function residentBytesByGroup(groups: ReadonlySet<number>): Map<number, number> {
  const totals = new Map<number, number>();
  if (groups.size === 0 || !procAvailable) return totals;
  for (const pid of numericEntries()) {
    const stat = readStat(pid);
    if (stat === null || !groups.has(stat.processGroup) || stat.state === 'Z') continue;
    totals.set(stat.processGroup, (totals.get(stat.processGroup) ?? 0) + residentBytes(pid));
  }
  return totals;
}

function readCommandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter((s) => s !== '').map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: find them by their parent pid.
    return numericEntries().filter((child) => readStat(child)?.parent === pid);
  }
}

/**
 * Whether a process has a child that already runs another program than its own (the fork was
 * followed by an exec, or the child already ended). True where /proc is unavailable: unknowable.
 */
export function hasExecutedChild(pid: number): boolean {
  if (!procAvailable) return true;
  const own = readCommandLine(pid);
  if (own === null) return true; // it ended
  return childrenOf(pid).some((child) => {
    const commandLine = readCommandLine(child);
    return commandLine !== null && commandLine !== own;
  });
}

/**
 * Live process-group leaders whose command line holds `argument` exactly: how a task's shim is
 * found when the daemon died between spawning it and recording its pid.
 */
export function findGroupLeadersWithArgument(argument: string): number[] {
  const found: number[] = [];
  if (!procAvailable) return found;
  for (const pid of numericEntries()) {
    const commandLine = readCommandLine(pid);
    if (commandLine === null || !commandLine.split('\0').includes(argument)) continue;
    const stat = readStat(pid);
    if (stat !== null && stat.processGroup === pid && stat.state !== 'Z') found.push(pid);
  }
  return found;
}
