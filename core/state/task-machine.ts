// The task state machine: new → pending → assigned → starting → running → one terminal state
// (complete, failed, shutdown, rejected, orphaned). States only move forward. The managers own the
// first three (create, pending reason, assign); agents report the rest. A report that does not
// move the task forward is stale (reordered or duplicated on the way) and is ignored, not an error.
// A task holds its reservation on its node from assigned until it becomes terminal.

import { describe } from './checks.ts';
import { failedPrecondition, invalidArgument, type StateError } from './errors.ts';
import { terminalTaskStates, type Task, type TaskState } from './types.ts';

const rank: Readonly<Record<TaskState, number>> = {
  new: 0,
  pending: 1,
  assigned: 2,
  starting: 3,
  running: 4,
  complete: 5,
  failed: 5,
  shutdown: 5,
  rejected: 5,
  orphaned: 5,
};

export const taskStates: readonly TaskState[] = Object.keys(rank) as TaskState[];

/** States an agent may report (the managers set the earlier ones themselves). */
export const reportableTaskStates: readonly TaskState[] = ['starting', 'running', 'complete', 'failed', 'shutdown', 'rejected', 'orphaned'];

export const isTerminal = (state: TaskState): boolean => terminalTaskStates.has(state);

/** Not yet placed: the scheduler may still assign it. */
export const isUnassigned = (state: TaskState): boolean => state === 'new' || state === 'pending';

/** Whether the task's reservation (and host ports, volumes) count on its node. */
export const holdsClaim = (task: Task): boolean => task.nodeId !== null && !isUnassigned(task.observedState) && !isTerminal(task.observedState);

export type ReportOutcome = 'advance' | 'stale';

/** What a report of `reported` does to `task`: advance it, be ignored as stale, or be an error. */
export function reportOutcome(task: Task, reported: TaskState): ReportOutcome | StateError {
  if (!reportableTaskStates.includes(reported)) {
    return invalidArgument(`state must be one of ${reportableTaskStates.join(', ')}; got ${describe(reported)}`);
  }
  if (isTerminal(task.observedState)) return 'stale';
  if (isUnassigned(task.observedState)) {
    return failedPrecondition(`task ${task.id} is ${task.observedState}: it is not assigned to a node, so nothing can report on it`);
  }
  return rank[reported] > rank[task.observedState] ? 'advance' : 'stale';
}
