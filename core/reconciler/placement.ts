// Placement of the tasks that wait for a node: the scheduler decides, the reconciler records the
// assignments, and for unschedulable tasks the reason (only when it changed, so an unschedulable
// task costs nothing per pass). A task is placed as soon as a node fits. All services of a pass are
// placed by one PassScheduler, which shares its setup over the nodes among them.

import { PassScheduler, type SchedulerBugs } from '../scheduler/index.ts';
import { isUnassigned, type StateView } from '../state/index.ts';
import type { Service, Task } from '../state/types.ts';
import type { Plan } from './plan.ts';
import type { StoreSchedulerView } from './view.ts';

/** A service and those of its tasks that wait for a node. */
export interface WaitingTasks {
  readonly service: Service;
  readonly tasks: readonly Task[];
}

/** The service's tasks that wait for a node, from its tasks in the store; empty in a settled cluster. */
export function waitingTasks(service: Service, tasks: readonly Task[]): Task[] {
  const waiting: Task[] = [];
  for (const t of tasks) {
    if (t.desiredState === 'running' && isUnassigned(t.observedState) && t.specVersion === service.specVersion) waiting.push(t);
  }
  return waiting;
}

/**
 * Places the waiting tasks of every service, in the order given, until the pass is full: one
 * scheduler setup for the whole pass, each service placed against the placements before it.
 * `bugs`: the scheduler's planted bugs (chaos only).
 */
export function placeWaitingTasks(state: StateView, view: StoreSchedulerView, waiting: readonly WaitingTasks[], plan: Plan, bugs: SchedulerBugs): void {
  let scheduler: PassScheduler | null = null;
  for (const { service, tasks } of waiting) {
    if (tasks.length === 0 || plan.full()) continue;
    scheduler ??= new PassScheduler(view, { bugs });
    for (const decision of scheduler.schedule(service, tasks)) {
      if (decision.type === 'placed') plan.assign({ taskId: decision.taskId, nodeId: decision.nodeId });
      else if (state.task(decision.taskId)?.message !== decision.reason) plan.pending({ taskId: decision.taskId, message: decision.reason });
    }
  }
}
