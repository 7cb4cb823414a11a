// Placement of the tasks that wait for a node: the scheduler decides, the reconciler records the
// assignments, and for unschedulable tasks the reason (only when it changed, so an unschedulable
// task costs nothing per pass). A task is placed as soon as a node fits.

import { schedule, type SchedulerBugs } from '../scheduler/index.ts';
import { isUnassigned, type StateView } from '../state/index.ts';
import type { Service, Task } from '../state/types.ts';
import type { Plan } from './plan.ts';
import type { StoreSchedulerView } from './view.ts';

/** The service's tasks that wait for a node, from its tasks in the store; empty in a settled cluster. */
export function waitingTasks(service: Service, tasks: readonly Task[]): Task[] {
  const waiting: Task[] = [];
  for (const t of tasks) {
    if (t.desiredState === 'running' && isUnassigned(t.observedState) && t.specVersion === service.specVersion) waiting.push(t);
  }
  return waiting;
}

/** `bugs`: the scheduler's planted bugs (chaos only). */
export function placeWaitingTasks(state: StateView, view: StoreSchedulerView, service: Service, waiting: readonly Task[], plan: Plan, bugs: SchedulerBugs): void {
  if (waiting.length === 0 || plan.full()) return;
  for (const decision of schedule(view, service, waiting, bugs)) {
    if (decision.type === 'placed') {
      plan.assign({ taskId: decision.taskId, nodeId: decision.nodeId });
      view.place(decision.nodeId, service);
    }
    else if (state.task(decision.taskId)?.message !== decision.reason) plan.pending({ taskId: decision.taskId, message: decision.reason });
  }
}
