// Validation of task commands. Batches are atomic, so a batch is checked item by item against the
// state as the earlier items of the same batch would leave it: several assignments to one node add
// up their reservations, host ports and volume bindings. The error of a bad item carries its index.
// An assignment is checked for everything the store guarantees: the node is ready and active, the
// task's spec is the service's current one, constraints hold, resources fit, host ports are free
// and a volume's tasks all land on the volume's node.

import { checkArray, checkEnum, checkId, checkInteger, checkString, describe, isRecord, type Check } from './checks.ts';
import type { NewTask, TaskAssignment, TaskCommand } from './commands.ts';
import { firstUnsatisfied } from './constraints.ts';
import { alreadyExists, atIndex, failedPrecondition, invalidArgument, isStateError, notFound, type StateError } from './errors.ts';
import { stateLimits } from './limits.ts';
import { addResources, fitsWithin } from './resources.ts';
import { isTerminal, isUnassigned, reportOutcome } from './task-machine.ts';
import { commandShutdownCauses, noResources, type ClusterNode, type NodeId, type Resources, type Service, type ServiceSpec, type Task, type TaskId } from './types.ts';
import { noStoreBugs, type StoreBugs } from './bugs.ts';
import { existingNode } from './validate-nodes.ts';
import { hostPortKey, type StateView, type TaskClaim } from './view.ts';

/** What a task of this spec holds on its node once assigned. */
export function claimForSpec(spec: ServiceSpec): TaskClaim {
  return {
    resources: { cpuMillis: spec.reservations.cpuMillis, memoryBytes: spec.reservations.memoryBytes },
    hostPorts: spec.ports.filter((p) => p.mode === 'host').map((p) => hostPortKey(p.protocol, p.published)).sort(),
    volumes: [...new Set(spec.mounts.map((m) => m.volume))].sort(),
  };
}

export function existingTask(state: StateView, id: unknown, path = 'taskId'): Task | StateError {
  const error = checkId(id, path);
  if (error !== null) return error;
  return state.task(id as TaskId) ?? notFound(`task ${id} does not exist`);
}

/** Checks a batch list, then each item with `check`; the first bad item's error names its index. */
function checkBatch<T>(items: unknown, path: string, check: (item: T, seen: Set<string>) => Check): Check {
  const error = checkArray(items, path, stateLimits.batchItems, false);
  if (error !== null) return error;
  const seen = new Set<string>();
  const list = items as unknown[];
  for (let i = 0; i < list.length; i++) {
    const itemError = isRecord(list[i]) ? check(list[i] as T, seen) : invalidArgument(`${path}[${i}] must be an object, got ${describe(list[i])}`);
    if (itemError !== null) return atIndex(itemError, i);
  }
  return null;
}

/** Refuses a second item for the same task in one batch. */
function once(seen: Set<string>, taskId: string): Check {
  if (seen.has(taskId)) return invalidArgument(`task ${taskId} appears twice in the batch`);
  seen.add(taskId);
  return null;
}

export function validateTaskCommand(state: StateView, command: TaskCommand, bugs: StoreBugs = noStoreBugs): Check {
  switch (command.type) {
    case 'task-create':
      return checkBatch<NewTask>(command.tasks, 'tasks', (item, seen) => validateNewTask(state, item, seen));
    case 'task-assign':
      return validateAssign(state, command.assignments, bugs);
    case 'task-set-pending-reason':
      return checkBatch<{ taskId: unknown; message: unknown }>(command.reasons, 'reasons', (item, seen) => {
        const task = existingTask(state, item.taskId);
        if (isStateError(task)) return task;
        return once(seen, task.id) ?? checkString(item.message, 'message', Number.MAX_SAFE_INTEGER) ??
          (isUnassigned(task.observedState) ? null : failedPrecondition(`task ${task.id} is ${task.observedState}, not waiting for a node`));
      });
    case 'task-set-desired':
      return checkBatch<{ taskId: unknown; desiredState: unknown; cause?: unknown }>(command.changes, 'changes', (item, seen) => {
        const task = existingTask(state, item.taskId);
        if (isStateError(task)) return task;
        return once(seen, task.id) ?? checkEnum(item.desiredState, 'desiredState', ['running', 'shutdown']) ?? checkShutdownCause(item) ??
          (task.desiredState === 'shutdown' && item.desiredState === 'running'
            ? failedPrecondition(`task ${task.id} is being shut down and never runs again: create a new task instead`)
            : null);
      });
    case 'task-report': {
      const task = existingTask(state, command.taskId);
      if (isStateError(task)) return task;
      const outcome = reportOutcome(task, command.state);
      return (typeof outcome === 'string' ? null : outcome) ??
        (command.exitCode === null ? null : checkInteger(command.exitCode, 'exitCode', -(2 ** 31), 2 ** 32 - 1)) ??
        checkString(command.message, 'message', Number.MAX_SAFE_INTEGER);
    }
    case 'task-remove':
      return checkBatch<unknown>(
        Array.isArray(command.taskIds) ? command.taskIds.map((taskId) => ({ taskId })) : command.taskIds,
        'taskIds',
        (item, seen) => {
          const task = existingTask(state, (item as { taskId: unknown }).taskId);
          if (isStateError(task)) return task;
          return once(seen, task.id) ??
            (isTerminal(task.observedState) ? null : failedPrecondition(`task ${task.id} is ${task.observedState}: only terminal tasks can be removed`));
        },
      );
  }
}

/** Shutting a task down names one of the causes the reconciler may give; keeping it running names none. */
function checkShutdownCause(item: { desiredState: unknown; cause?: unknown }): Check {
  if (item.desiredState === 'shutdown') {
    if (item.cause === undefined) return invalidArgument(`cause is required to shut a task down: one of ${commandShutdownCauses.join(', ')}`);
    return checkEnum(item.cause, 'cause', commandShutdownCauses);
  }
  return item.cause === undefined ? null : invalidArgument(`cause is given only to shut a task down (desiredState shutdown), got ${describe(item.cause)} with desiredState running`);
}

function validateNewTask(state: StateView, item: NewTask, seen: Set<string>): Check {
  const error = checkId(item.id, 'id') ?? checkId(item.serviceId, 'serviceId') ??
    (item.restartCount === undefined ? null : checkInteger(item.restartCount, 'restartCount', 0, Number.MAX_SAFE_INTEGER)) ??
    checkInteger(item.specVersion, 'specVersion', 1, Number.MAX_SAFE_INTEGER);
  if (error !== null) return error;
  if (state.task(item.id) !== null || seen.has(item.id)) return alreadyExists(`task ${item.id} already exists`);
  seen.add(item.id);
  const service = state.service(item.serviceId);
  if (service === null) return notFound(`service ${item.serviceId} does not exist`);
  if (item.specVersion !== service.specVersion) {
    return failedPrecondition(`spec version ${item.specVersion} is stale: service ${service.id} is at spec version ${service.specVersion}`);
  }
  if (service.spec.mode.type === 'global') {
    if (item.slot !== null) return invalidArgument(`slot must be null for a task of global service ${service.id}, got ${describe(item.slot)}`);
    const node = existingNode(state, item.nodeId, 'nodeId');
    return isStateError(node) ? node : null;
  }
  if (item.nodeId !== null) return invalidArgument(`nodeId must be null for a task of replicated service ${service.id} (the scheduler assigns it), got ${describe(item.nodeId)}`);
  return checkInteger(item.slot, 'slot', 1, stateLimits.replicas);
}

/** What the earlier items of an assignment batch have taken so far. */
interface AssignBatch {
  readonly seen: Set<string>;
  readonly reservedByNode: Map<NodeId, Resources>;
  /** `node protocol/port` → task. */
  readonly hostPorts: Map<string, TaskId>;
  /** volume name → node it is bound to by this batch. */
  readonly volumeNodes: Map<string, NodeId>;
}

function validateAssign(state: StateView, assignments: unknown, bugs: StoreBugs): Check {
  const batch: AssignBatch = { seen: new Set(), reservedByNode: new Map(), hostPorts: new Map(), volumeNodes: new Map() };
  return checkBatch<TaskAssignment>(assignments, 'assignments', (item) => validateAssignment(state, item, batch, bugs));
}

function validateAssignment(state: StateView, item: TaskAssignment, batch: AssignBatch, bugs: StoreBugs): Check {
  const task = existingTask(state, item.taskId);
  if (isStateError(task)) return task;
  const node = existingNode(state, item.nodeId, 'nodeId');
  if (isStateError(node)) return node;
  const error = once(batch.seen, task.id) ?? checkTaskAssignable(state, task, node, bugs);
  if (error !== null) return error;
  const service = state.service(task.serviceId) as Service;
  const claim = claimForSpec(service.spec);
  return checkConstraints(node, service) ?? checkFits(node, task, claim, batch) ?? checkPorts(state, node, task, claim, batch) ??
    checkVolumes(state, node, task, claim, batch);
}

function checkTaskAssignable(state: StateView, task: Task, node: ClusterNode, bugs: StoreBugs): Check {
  if (!isUnassigned(task.observedState)) return failedPrecondition(`task ${task.id} is already ${task.observedState}`);
  if (task.desiredState !== 'running') return failedPrecondition(`task ${task.id} is being shut down: it must not be assigned`);
  if (task.nodeId !== null && task.nodeId !== node.id) {
    return invalidArgument(`task ${task.id} of a global service is for node ${task.nodeId}, not node ${node.id}`);
  }
  const service = state.service(task.serviceId);
  if (service === null) return failedPrecondition(`service ${task.serviceId} of task ${task.id} was removed`);
  if (service.specVersion !== task.specVersion) {
    return failedPrecondition(`task ${task.id} runs spec version ${task.specVersion} but service ${service.id} is at spec version ${service.specVersion}: replace the task`);
  }
  if (node.status !== 'ready') return failedPrecondition(`node ${node.id} is ${node.status}, not ready`);
  if (node.availability !== 'active' && !(bugs.scheduleOnDrained && node.availability === 'drain')) return failedPrecondition(`node ${node.id} is ${node.availability === 'drain' ? 'draining' : 'paused'}: it takes no new tasks`);
  return null;
}

function checkConstraints(node: ClusterNode, service: Service): Check {
  const failed = firstUnsatisfied(node, service.spec.placement.constraints);
  return failed === null ? null : failedPrecondition(`node ${node.id} does not satisfy constraint ${failed} of service ${service.id}`);
}

function checkFits(node: ClusterNode, task: Task, claim: TaskClaim, batch: AssignBatch): Check {
  const inBatch = batch.reservedByNode.get(node.id) ?? noResources;
  const reserved = addResources(node.reserved, inBatch);
  if (!fitsWithin(addResources(reserved, claim.resources), node.resources)) {
    const freeCpu = node.resources.cpuMillis - reserved.cpuMillis;
    const freeMemory = node.resources.memoryBytes - reserved.memoryBytes;
    return failedPrecondition(
      `node ${node.id} has ${freeCpu} cpu millis and ${freeMemory} memory bytes free; task ${task.id} needs ${claim.resources.cpuMillis} and ${claim.resources.memoryBytes}`,
    );
  }
  batch.reservedByNode.set(node.id, addResources(inBatch, claim.resources));
  return null;
}

function checkPorts(state: StateView, node: ClusterNode, task: Task, claim: TaskClaim, batch: AssignBatch): Check {
  for (const key of claim.hostPorts) {
    const [protocol, port] = key.split('/');
    const holder = state.hostPortOwner(node.id, protocol as 'tcp' | 'udp', Number(port)) ?? batch.hostPorts.get(`${node.id} ${key}`) ?? null;
    if (holder !== null) return failedPrecondition(`host port ${key} on node ${node.id} is used by task ${holder}; task ${task.id} needs it`);
  }
  for (const key of claim.hostPorts) batch.hostPorts.set(`${node.id} ${key}`, task.id);
  return null;
}

function checkVolumes(state: StateView, node: ClusterNode, task: Task, claim: TaskClaim, batch: AssignBatch): Check {
  for (const name of claim.volumes) {
    const volume = state.volumeByName(name);
    if (volume === null) return failedPrecondition(`volume "${name}" of task ${task.id} does not exist`);
    const boundTo = volume.nodeId ?? batch.volumeNodes.get(name) ?? null;
    if (boundTo !== null && boundTo !== node.id) return failedPrecondition(`volume "${name}" lives on node ${boundTo}; task ${task.id} cannot run on node ${node.id}`);
  }
  for (const name of claim.volumes) batch.volumeNodes.set(name, node.id);
  return null;
}
