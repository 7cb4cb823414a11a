// The reconciler runs on the leader: desired state vs the store → commands to propose through Raft.
// It is a pure function of the store and its input (time, id generator, the leader's heartbeat
// memory), holds no state between passes, and so a leader change neither loses nor duplicates
// work. The leader runs a pass only on a store that includes the effects of its previous pass (it
// waits for its proposals to apply), so the same slot is never filled twice. (The planted bug
// forgetTaskOnFailover breaks exactly this: the leader's task cache, given in the input.)

import type { StateCommand } from '../state/commands.ts';
import { validateCommand, type StateView } from '../state/index.ts';
import type { Service, Task } from '../state/types.ts';
import { validateReconcilerConfig, type ReconcileInput } from './config.ts';
import { reconcileNodes } from './nodes.ts';
import { placeWaitingTasks, waitingTasks } from './placement.ts';
import { Plan } from './plan.ts';
import { RebalancePass } from './rebalance.ts';
import { reconcileGlobal, reconcileReplicated } from './services.ts';
import { StoreSchedulerView } from './view.ts';

export function reconcile(state: StateView, input: ReconcileInput): StateCommand[] {
  validateReconcilerConfig(input.config);
  const plan = new Plan(input.nowUs, input.config.maxTasksPerPass);
  const goingDown = reconcileNodes(state, input, plan);
  const view = new StoreSchedulerView(state, goingDown);
  // The store does not change during a pass, so each service's tasks are read once, and the tasks
  // waiting for a node are picked out then for placement after every service was reconciled.
  const waiting: { service: Service; tasks: Task[] }[] = [];
  const cache = input.config.bugs.forgetTaskOnFailover ? input.taskCache : undefined;
  const rebalance = input.config.rebalance ? new RebalancePass(state, view, input) : null;
  for (const service of state.services()) {
    const tasks = state.tasksOfService(service.id);
    // Planted bug forgetTaskOnFailover: the service controllers see only the leader's cached tasks.
    const managed = cache === undefined ? tasks : tasks.filter((t) => cache.has(t.id));
    if (service.spec.mode.type === 'replicated') reconcileReplicated(state, service, managed, service.spec.mode.replicas, input, plan, rebalance);
    else reconcileGlobal(state, view, service, managed, input, plan);
    const serviceWaiting = waitingTasks(service, tasks);
    if (serviceWaiting.length > 0) waiting.push({ service, tasks: serviceWaiting });
  }
  placeWaitingTasks(state, view, waiting, plan, input.config.bugs);
  const commands = plan.commands();
  if (commands.length === 0) return commands;
  const valid = commands.flatMap((command) => validOnly(state, command, input));
  if (cache !== undefined) for (const c of valid) if (c.type === 'task-create') cache.learn(c.tasks.map((t) => t.id));
  return valid;
}

/** Bound on items dropped from one batch before the whole batch is given up for this pass. */
const maxDroppedItems = 64;

/**
 * What the store would refuse is not proposed: a batch loses the item the store names (a batch is
 * all or nothing), anything else refused is dropped. Refusals here are races the next pass fixes.
 */
function validOnly(state: StateView, command: StateCommand, input: ReconcileInput): StateCommand[] {
  let current = command;
  for (let dropped = 0; dropped <= maxDroppedItems; dropped++) {
    const error = validateCommand(state, current, input.config.bugs);
    if (error === null) return [current];
    const next = error.index === undefined ? null : withoutItem(current, error.index);
    if (next === null) return [];
    current = next;
  }
  return [];
}

function withoutItem(command: StateCommand, index: number): StateCommand | null {
  const drop = <T,>(items: readonly T[]) => (items.length <= 1 ? null : items.filter((_, i) => i !== index));
  switch (command.type) {
    case 'task-create': {
      const tasks = drop(command.tasks);
      return tasks && { ...command, tasks };
    }
    case 'task-assign': {
      const assignments = drop(command.assignments);
      return assignments && { ...command, assignments };
    }
    case 'task-set-desired': {
      const changes = drop(command.changes);
      return changes && { ...command, changes };
    }
    case 'task-set-pending-reason': {
      const reasons = drop(command.reasons);
      return reasons && { ...command, reasons };
    }
    default:
      return null;
  }
}
