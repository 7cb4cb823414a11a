// Global services: one task per eligible node. Given the cluster and the service's tasks, which
// nodes lack a task (create one for each, then schedule it) and which tasks sit on nodes that can no
// longer keep one (shut them down). Pure; the reconciler decides when to act.
// Eligibility to receive a new task: active, ready, every constraint matches. Keeping an existing
// task is looser: a paused node keeps its task (pause only stops new work) and so does one whose
// status is unknown (it may be a blip); a node that left, was drained, went down, or stopped matching
// the constraints does not.

import type { ClusterNode, NodeId, Service, Task, TaskId } from '../state/types.ts';
import { terminalTaskStates } from '../state/types.ts';
import { matches, parseConstraints } from './constraints.ts';
import type { Constraint } from './constraints.ts';
import { findNode, nodeEligible } from './filters.ts';
import type { SchedulerView } from './view.ts';

export type GlobalRemovalCause = 'node-removed' | 'node-drained' | 'node-down' | 'constraints';

export interface GlobalRemoval {
  readonly taskId: TaskId;
  readonly nodeId: NodeId;
  readonly cause: GlobalRemovalCause;
  /** In words, e.g. `node n3 no longer satisfies constraint node.labels.gpu==true`. */
  readonly reason: string;
}

export interface GlobalPlan {
  /** Eligible nodes with no live task of the service, sorted. */
  readonly nodesLackingTask: readonly NodeId[];
  /** Live tasks on nodes that may no longer keep one, sorted by task id. */
  readonly tasksToRemove: readonly GlobalRemoval[];
  /**
   * Live tasks beyond the first on a node, sorted by task id (the kept one: running first, then the
   * newest spec version, then the smallest id). Expected briefly during a start-first update.
   */
  readonly extraTasks: readonly TaskId[];
  /** A bad constraint: nothing is planned until the spec is fixed (no churn on a typo). */
  readonly error: string | null;
}

/** A task the managers want running that is not finished and names its node. */
export function isLiveGlobalTask(task: Task): boolean {
  return task.nodeId !== null && task.desiredState === 'running' && !terminalTaskStates.has(task.observedState);
}

/** The nodes a global service should run on now, sorted. */
export function globalEligibleNodes(view: SchedulerView, constraints: readonly Constraint[]): NodeId[] {
  return view.nodes().filter((node) => nodeEligible(node, constraints)).map((node) => node.id);
}

/** Why a node may not keep its task of the service, or null if it may. */
export function globalRemovalCause(node: ClusterNode | undefined, constraints: readonly Constraint[]): { cause: GlobalRemovalCause; predicate: string } | null {
  if (node === undefined) return { cause: 'node-removed', predicate: 'is no longer in the cluster' };
  if (node.availability === 'drain') return { cause: 'node-drained', predicate: 'is drained' };
  if (node.status === 'down') return { cause: 'node-down', predicate: 'is down' };
  for (const constraint of constraints) {
    if (!matches(constraint, node)) return { cause: 'constraints', predicate: `no longer satisfies constraint ${constraint.text}` };
  }
  return null;
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function planGlobal(view: SchedulerView, service: Service, tasks: readonly Task[]): GlobalPlan {
  const constraints = parseConstraints(service.spec.placement.constraints);
  if ('message' in constraints) return { nodesLackingTask: [], tasksToRemove: [], extraTasks: [], error: constraints.message };
  const live = tasks.filter((task) => task.serviceId === service.id && isLiveGlobalTask(task));
  const byNode = new Map<NodeId, Task[]>();
  for (const task of live) {
    const onNode = byNode.get(task.nodeId!);
    if (onNode === undefined) byNode.set(task.nodeId!, [task]);
    else onNode.push(task);
  }
  const nodesLackingTask = globalEligibleNodes(view, constraints).filter((id) => !byNode.has(id));
  const tasksToRemove: GlobalRemoval[] = [];
  const extraTasks: TaskId[] = [];
  for (const nodeId of [...byNode.keys()].sort(byId)) {
    const onNode = byNode.get(nodeId)!;
    const removal = globalRemovalCause(findNode(view, nodeId), constraints);
    if (removal !== null) {
      for (const task of onNode) tasksToRemove.push({ taskId: task.id, nodeId, cause: removal.cause, reason: `node ${nodeId} ${removal.predicate}` });
      continue;
    }
    onNode.sort(keepFirst);
    for (const task of onNode.slice(1)) extraTasks.push(task.id);
  }
  tasksToRemove.sort((a, b) => byId(a.taskId, b.taskId));
  extraTasks.sort(byId);
  return { nodesLackingTask, tasksToRemove, extraTasks, error: null };
}

/** The order in which tasks on one node are kept: running, then newest spec version, then id. */
function keepFirst(a: Task, b: Task): number {
  const running = Number(b.observedState === 'running') - Number(a.observedState === 'running');
  return running || b.specVersion - a.specVersion || byId(a.id, b.id);
}
