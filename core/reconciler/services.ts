// The service controllers: replicated services keep slots 1..replicas (scaling down removes the
// highest slots); global services keep one task per eligible node (nodes joining get one, tasks on
// nodes that stop qualifying are shut down, down nodes' tasks orphaned). Both then share slot
// maintenance and rolling updates (slots.ts); a converged replicated service is then rebalanced
// (rebalance.ts). Tasks of removed services are shut down by the store.

import { planGlobal, type GlobalRemovalCause } from '../scheduler/index.ts';
import { isTerminal, type StateView } from '../state/index.ts';
import type { CommandShutdownCause, NodeId, Service, Task } from '../state/types.ts';
import type { ReconcileInput } from './config.ts';
import type { Plan } from './plan.ts';
import type { RebalancePass } from './rebalance.ts';
import { activeUpdate, maintainSlots, progressUpdate, type Slot } from './slots.ts';
import type { StoreSchedulerView } from './view.ts';

/** Why a global task is shut down, by why its node no longer qualifies (down or removed nodes orphan). */
const globalShutdownCause: Record<Exclude<GlobalRemovalCause, 'node-down' | 'node-removed'>, CommandShutdownCause> = {
  'node-drained': 'drain',
  constraints: 'ineligible',
};

const byAge = (a: Task, b: Task) => a.createdAtUs - b.createdAtUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Sorts a slot's tasks oldest first, in place. A pass sorts every slot of every service, and a
 * slot holds a handful of tasks (its history is reaped), for which an insertion sort beats
 * Array.prototype.sort several times over; byAge is a total order, so the result is the same.
 */
function sortByAge(tasks: Task[]): Task[] {
  if (tasks.length > 16) return tasks.sort(byAge);
  for (let i = 1; i < tasks.length; i++) {
    const t = tasks[i]!;
    let j = i - 1;
    while (j >= 0 && byAge(tasks[j]!, t) > 0) {
      tasks[j + 1] = tasks[j]!;
      j--;
    }
    tasks[j + 1] = t;
  }
  return tasks;
}

/**
 * `tasks` are the service's tasks in the store (state.tasksOfService), read once per pass.
 * `rebalance`: this pass's rebalancing, null when it is off.
 */
export function reconcileReplicated(
  state: StateView, service: Service, tasks: readonly Task[], replicas: number, input: ReconcileInput, plan: Plan, rebalance: RebalancePass | null,
): void {
  const bySlot = new Map<number, Task[]>();
  let beyondReplicas = false;
  for (const t of tasks) {
    if (t.slot === null) continue;
    if (t.slot > replicas) {
      if (isTerminal(t.observedState)) continue;
      beyondReplicas = true;
      if (t.desiredState === 'running') plan.shutdown(t.id, 'scale-down');
      continue;
    }
    const list = bySlot.get(t.slot) ?? [];
    list.push(t);
    bySlot.set(t.slot, list);
  }
  const slots: Slot[] = [];
  for (let slot = 1; slot <= replicas; slot++) {
    const slotTasks = bySlot.get(slot);
    slots.push({ key: String(slot), tasks: slotTasks === undefined ? [] : sortByAge(slotTasks), slot, nodeId: null });
  }
  const tally = rebalance === null ? null : rebalance.tally;
  tally?.reset();
  const outdated = maintainSlots(state, service, slots, input, plan, tally);
  progressUpdate(service, slots, outdated, input, plan);
  if (rebalance !== null && !beyondReplicas && rebalance.wanted() && activeUpdate(service) === null) rebalance.service(service, slots, plan);
}

export function reconcileGlobal(state: StateView, view: StoreSchedulerView, service: Service, tasks: readonly Task[], input: ReconcileInput, plan: Plan): void {
  const global = planGlobal(view, service, tasks);
  if (global.error !== null) return;
  for (const removal of global.tasksToRemove) {
    if (removal.cause === 'node-down' || removal.cause === 'node-removed') plan.orphan(removal.taskId, removal.reason);
    else plan.shutdown(removal.taskId, globalShutdownCause[removal.cause]);
  }
  const removed = new Set(global.tasksToRemove.map((r) => r.taskId));
  const byNode = new Map<NodeId, Task[]>();
  for (const t of tasks) {
    if (t.nodeId === null || removed.has(t.id)) continue;
    const list = byNode.get(t.nodeId) ?? [];
    list.push(t);
    byNode.set(t.nodeId, list);
  }
  // A slot per node that should run the service: eligible nodes lacking a task, and nodes keeping one.
  const liveNodes = tasks.filter((t) => t.nodeId !== null && !removed.has(t.id) && t.desiredState === 'running' && !isTerminal(t.observedState)).map((t) => t.nodeId!);
  const slotNodes = [...new Set<NodeId>([...global.nodesLackingTask, ...liveNodes])].sort();
  const slots: Slot[] = slotNodes.map((nodeId) => ({ key: nodeId, tasks: sortByAge(byNode.get(nodeId) ?? []), slot: null, nodeId }));
  const outdated = maintainSlots(state, service, slots, input, plan);
  progressUpdate(service, slots, outdated, input, plan);
}
