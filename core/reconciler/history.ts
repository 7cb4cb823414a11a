// Task history compaction: which ended tasks the leader may remove from the store (task-remove).
// Without it every task that ever ran stays in the store, and reconcile passes, assignment views and
// snapshots grow with the cluster's whole history (unbounded growth is a bug). The leader proposes
// `task-remove` for these every few seconds.
// Invariants: only terminal tasks are removed; the newest task of every slot (a replicated slot, or
// a global service's node) stays, and so do the `keepEndedPerSlot` newest ended tasks of each slot
// of a live service, which the restart policy reads (attempts in its window, the backoff streak);
// every ended task of a removed service goes. At most `maxTasks` ids per answer, oldest first.

import { isTerminal, type StateView } from '../state/index.ts';
import type { Task, TaskId } from '../state/types.ts';

export interface ReaperConfig {
  readonly everyUs: number;
  readonly keepEndedPerSlot: number;
  readonly maxTasks: number;
}

export const defaultReaperConfig: ReaperConfig = { everyUs: 5_000_000, keepEndedPerSlot: 5, maxTasks: 1_000 };

const byAge = (a: Task, b: Task): number => a.createdAtUs - b.createdAtUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function reapableTasks(state: StateView, config: ReaperConfig): TaskId[] {
  const out: Task[] = [];
  for (const service of state.services()) {
    const slots = new Map<string, Task[]>();
    for (const t of state.tasksOfService(service.id)) {
      const key = t.slot !== null ? `s${t.slot}` : `n${t.nodeId ?? ''}`;
      const list = slots.get(key);
      if (list === undefined) slots.set(key, [t]);
      else list.push(t);
    }
    for (const key of [...slots.keys()].sort()) {
      const tasks = slots.get(key)!.sort(byAge);
      let kept = 0;
      // Newest first: the newest task stays whatever its state; then the newest ended ones.
      for (let i = tasks.length - 2; i >= 0; i--) {
        const t = tasks[i]!;
        if (!isTerminal(t.observedState)) continue;
        if (kept < config.keepEndedPerSlot) kept++;
        else out.push(t);
      }
    }
  }
  for (const t of state.tasks()) {
    if (isTerminal(t.observedState) && state.service(t.serviceId) === null) out.push(t);
  }
  return out.sort(byAge).slice(0, config.maxTasks).map((t) => t.id);
}
