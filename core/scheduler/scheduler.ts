// Placement of a batch of tasks of one service: a pure function of (view, service, tasks) to one
// decision per task, placed or unschedulable with the reason. Replicated services: the fixed
// filters run once per batch, the nodes that fit go into a scored structure (candidates.ts), and
// each placement updates only the chosen node. Global services: each task is for its own node, so
// only that node is checked. Invariants: the result does not depend on the order of `tasks` (they
// are placed by slot, then id); no placement breaks a filter, counting the batch's own placements.

import type { NodeId, Service, Task, TaskId } from '../state/types.ts';
import { assert } from '../assert.ts';
import { Candidates } from './candidates.ts';
import { parseConstraints, parseSpread } from './constraints.ts';
import type { SpreadPreference } from './constraints.ts';
import { eligibleNodes, explainNoFit, fits, hostPortsOf, newNodeState, noSchedulerBugs } from './filters.ts';
import type { BatchContext, NodeState, Pin, SchedulerBugs } from './filters.ts';
import type { SchedulerView } from './view.ts';

export type Decision =
  | {
      readonly type: 'placed';
      readonly taskId: TaskId;
      readonly nodeId: NodeId;
      /** Unbound volumes this placement binds to nodeId: the caller records the binding. */
      readonly bindVolumes: readonly string[];
    }
  | { readonly type: 'unschedulable'; readonly taskId: TaskId; readonly reason: string };

/** The most tasks one call places; a larger batch is a caller bug (split it). */
export const maxBatchTasks = 100_000;

/** `bugs`: planted bugs, for the chaos suites only (none by default). */
export function schedule(view: SchedulerView, service: Service, tasks: readonly Task[], bugs: SchedulerBugs = noSchedulerBugs): Decision[] {
  assert(tasks.length <= maxBatchTasks, () => `schedule: ${tasks.length} tasks exceed the batch bound ${maxBatchTasks}`);
  const ordered = orderTasks(service, tasks);
  const context = batchContext(view, service, bugs);
  if ('reason' in context) return ordered.map((task) => unschedulable(task, context.reason));
  return service.spec.mode.type === 'global'
    ? scheduleGlobal(context, service, ordered)
    : scheduleReplicated(context, service, ordered);
}

export function orderTasks(service: Service, tasks: readonly Task[]): Task[] {
  const seen = new Set<TaskId>();
  for (const task of tasks) {
    assert(task.serviceId === service.id, () => `schedule: task ${task.id} is of service ${task.serviceId}, not ${service.id}`);
    assert(!seen.has(task.id), () => `schedule: task ${task.id} given twice`);
    seen.add(task.id);
  }
  return [...tasks].sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function batchContext(view: SchedulerView, service: Service, bugs: SchedulerBugs): BatchContext | { readonly reason: string } {
  const spec = service.spec;
  const constraints = parseConstraints(spec.placement.constraints);
  if ('message' in constraints) return { reason: constraints.message };
  const preferences: SpreadPreference[] = [];
  for (const preference of spec.placement.preferences) {
    const parsed = parseSpread(preference.spread);
    if (parsed.type === 'error') return { reason: parsed.message };
    preferences.push(parsed);
  }
  return { view, spec, constraints, preferences, reservations: spec.reservations, hostPorts: hostPortsOf(spec), bugs };
}

export const unschedulable = (task: Task, reason: string): Decision => ({ type: 'unschedulable', taskId: task.id, reason });

type VolumePin = Extract<Pin, { cause: 'volume' }>;
type Volumes = { readonly pin: VolumePin | null; readonly unbound: readonly string[] } | { readonly reason: string };

/** Where the service's volumes confine it: the bound volumes' node, and the unbound ones to bind. */
function resolveVolumes(context: BatchContext, boundInBatch: ReadonlyMap<string, NodeId>): Volumes {
  let pin = null as VolumePin | null;
  const unbound: string[] = [];
  for (const mount of context.spec.mounts) {
    const name = mount.volume;
    if (unbound.includes(name) || pin?.volume === name) continue;
    const nodeId: NodeId | null | undefined = boundInBatch.get(name) ?? context.view.volumeNode(name);
    if (nodeId === undefined) return { reason: `volume ${name} does not exist` };
    if (nodeId === null) {
      unbound.push(name);
    } else if (pin === null) {
      pin = { cause: 'volume', nodeId, volume: name };
    } else if (pin.nodeId !== nodeId) {
      return { reason: `volumes ${pin.volume} and ${name} are on different nodes (${pin.nodeId} and ${nodeId}), and a task mounting both must run beside both` };
    }
  }
  return { pin, unbound };
}

/** Records one more task of the batch on the node. */
function place(context: BatchContext, state: NodeState): void {
  state.freeCpuMillis -= context.reservations.cpuMillis;
  state.freeMemoryBytes -= context.reservations.memoryBytes;
  state.serviceTasks++;
  state.totalTasks++;
  state.placedInBatch++;
}

export function scheduleReplicated(context: BatchContext, service: Service, tasks: readonly Task[]): Decision[] {
  if (tasks.length === 0) return [];
  const volumes = resolveVolumes(context, new Map());
  if ('reason' in volumes) return tasks.map((task) => unschedulable(task, volumes.reason));
  let pin: Pin | null = volumes.pin;
  const filtered = eligibleNodes(context, pin);
  if ('reason' in filtered) return tasks.map((task) => unschedulable(task, filtered.reason));
  let states = filtered.nodes.map((node) => newNodeState(context, node, service.id));
  const levels = context.preferences.length;
  const groupTasks = new Map<string, number>();
  for (const state of states) {
    for (const path of state.groupPaths) groupTasks.set(path, (groupTasks.get(path) ?? 0) + state.serviceTasks);
  }
  let candidates = new Candidates(states.filter((state) => fits(context, state)), levels, groupTasks);
  let toBind = volumes.unbound;
  let noFitReason: string | null = null;
  const decisions: Decision[] = [];
  for (const task of tasks) {
    const best = candidates.best();
    if (best === null) {
      noFitReason ??= explainNoFit(context, states, pin);
      decisions.push(unschedulable(task, noFitReason));
      continue;
    }
    candidates.take(best);
    candidates.countPlacement(best);
    place(context, best);
    decisions.push({ type: 'placed', taskId: task.id, nodeId: best.node.id, bindVolumes: toBind });
    if (toBind.length > 0) {
      // The volumes are bound now: the rest of the batch may only join them on this node.
      pin = { cause: 'volume', nodeId: best.node.id, volume: toBind[0]! };
      toBind = [];
      states = [best];
      candidates = new Candidates([], levels, groupTasks);
    }
    if (fits(context, best)) candidates.insert(best);
  }
  return decisions;
}

export function scheduleGlobal(context: BatchContext, service: Service, tasks: readonly Task[]): Decision[] {
  const states = new Map<NodeId, NodeState>();
  const boundInBatch = new Map<string, NodeId>();
  const decisions: Decision[] = [];
  for (const task of tasks) {
    const nodeId = task.nodeId;
    if (nodeId === null) {
      decisions.push(unschedulable(task, `task ${task.id} of global service ${context.spec.name} names no node`));
      continue;
    }
    const volumes = resolveVolumes(context, boundInBatch);
    if ('reason' in volumes) {
      decisions.push(unschedulable(task, volumes.reason));
      continue;
    }
    if (volumes.pin !== null && volumes.pin.nodeId !== nodeId) {
      decisions.push(unschedulable(task, `volume ${volumes.pin.volume} is on node ${volumes.pin.nodeId}, but this task of global service ${context.spec.name} is for node ${nodeId}`));
      continue;
    }
    const pin: Pin = { cause: 'global', nodeId };
    const filtered = eligibleNodes(context, pin);
    if ('reason' in filtered) {
      decisions.push(unschedulable(task, filtered.reason));
      continue;
    }
    let state = states.get(nodeId);
    if (state === undefined) {
      state = newNodeState(context, filtered.nodes[0]!, service.id);
      states.set(nodeId, state);
    }
    if (!fits(context, state)) {
      decisions.push(unschedulable(task, explainNoFit(context, [state], pin)));
      continue;
    }
    place(context, state);
    for (const volume of volumes.unbound) boundInBatch.set(volume, nodeId);
    decisions.push({ type: 'placed', taskId: task.id, nodeId, bindVolumes: volumes.unbound });
  }
  return decisions;
}
