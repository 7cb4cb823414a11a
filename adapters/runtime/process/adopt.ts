// What a (re)started process runtime finds on disk: every task record, checked against the
// processes that run now. This is how tasks survive a restart of the daemon without being run
// twice: a record whose process still runs (same pid, start time and boot) is adopted as running;
// one whose process is gone becomes exited, with the code its shim recorded, or 137 when it
// recorded none (only SIGKILL stops the shim without a record), or null (unknown) when the
// machine rebooted meanwhile. A record caught between "about to spawn" and "spawned" is resolved
// by finding the shim through its command line, which names the task's exit-status file.
// Loading is synchronous: it runs once, in the constructor, before any action or list().

import { existsSync, readdirSync, renameSync } from 'node:fs';
import type { TaskId } from '../../../core/state/types.ts';
import { findGroupLeadersWithArgument, fromEarlierBoot, identify, isAlive, signalGroup, type ProcessIdentity } from './proc.ts';
import { isSafeName, readExitStatusSync, readRecordSync, taskPaths, tasksDirOf, writeRecordSync, type TaskRecordFile } from './records.ts';
import { exitCodeKilled } from './shim.ts';
import { newRun, type RuntimeTask } from './task.ts';

export function loadTasks(stateDir: string): Map<TaskId, RuntimeTask> {
  const tasks = new Map<TaskId, RuntimeTask>();
  for (const name of readdirSync(tasksDirOf(stateDir)).sort()) {
    if (!isSafeName(name)) continue;
    const paths = taskPaths(stateDir, name);
    if (!existsSync(paths.record)) continue; // the logs of a removed task
    const record = readRecordSync(paths.record, name);
    if (record === null) {
      // Not a record this runtime can use: nothing may run for it unsupervised.
      for (const pid of findGroupLeadersWithArgument(paths.exitStatus)) signalGroup(pid, 'SIGKILL');
      renameSync(paths.record, `${paths.record}.unreadable`);
      continue;
    }
    const task: RuntimeTask = { taskId: name as TaskId, paths, record, run: null, writes: Promise.resolve() };
    const before = JSON.stringify(record);
    reconcileWithProcesses(task);
    if (JSON.stringify(record) !== before) writeRecordSync(paths.record, record);
    tasks.set(task.taskId, task);
  }
  return tasks;
}

function reconcileWithProcesses(task: RuntimeTask): void {
  const { record, paths } = task;
  switch (record.state) {
    case 'created':
    case 'exited':
      return;
    case 'starting': {
      // The daemon died around the spawn: a shim may run that no record names yet.
      const [leader, ...extra] = findGroupLeadersWithArgument(paths.exitStatus);
      for (const pid of extra) signalGroup(pid, 'SIGKILL');
      if (leader !== undefined) return adoptRunning(task, identify(leader));
      return markExited(record, readExitStatusSync(paths.exitStatus));
    }
    case 'running': {
      if (record.pid === null) return markExited(record, readExitStatusSync(paths.exitStatus));
      const identity: ProcessIdentity = { pid: record.pid, startTicks: record.startTicks, bootId: record.bootId };
      if (isAlive(identity)) return adoptRunning(task, identity);
      const recorded = readExitStatusSync(paths.exitStatus);
      return markExited(record, recorded ?? (fromEarlierBoot(identity) ? null : exitCodeKilled));
    }
  }
}

function adoptRunning(task: RuntimeTask, identity: ProcessIdentity): void {
  const { record } = task;
  record.state = 'running';
  record.pid = identity.pid;
  record.startTicks = identity.startTicks;
  record.bootId = identity.bootId;
  task.run = newRun(null, identity, true);
}

function markExited(record: TaskRecordFile, exitCode: number | null): void {
  record.state = 'exited';
  record.exitCode = exitCode;
}
