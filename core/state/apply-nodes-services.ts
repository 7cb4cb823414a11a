// Effects of node and service commands, run only after validateCommand passed on the same state.
// Versions: every change to a node or service bumps its version, except a heartbeat that finds the
// node ready (it only records the time): otherwise an operator's update, which names the version it
// read, would race the heartbeats of every node and keep being refused as stale.

import { assert } from '../assert.ts';
import type { NodeCommand, ServiceCommand } from './commands.ts';
import { canonicalJson } from './codec.ts';
import { stateLimits } from './limits.ts';
import { copyResources, copyStringRecord, normalizeServiceSpec } from './normalize.ts';
import type { Tables } from './tables.ts';
import { isTerminal, isUnassigned } from './task-machine.ts';
import { noResources, type Service, type ServiceId, type ServiceSpec, type ShutdownCause, type Task, type UpdateStatus } from './types.ts';

export const truncateMessage = (message: string): string =>
  message.length > stateLimits.messageChars ? message.slice(0, stateLimits.messageChars) : message;

/**
 * Asks a task to stop, recording why and when (the first cause stays: a task is shut down once).
 * A task never placed has nothing to stop: it is shut down at once (with `message` as the reason).
 * Returns whether anything changed.
 */
export function shutDownTask(tables: Tables, task: Task, atUs: number, message: string, cause: ShutdownCause): boolean {
  if (task.desiredState === 'shutdown') return false;
  const unplaced = isUnassigned(task.observedState);
  tables.putTask({
    ...task, desiredState: 'shutdown', shutdownCause: cause, shutdownAtUs: atUs, observedState: unplaced ? 'shutdown' : task.observedState,
    message: unplaced ? truncateMessage(message) : task.message, version: task.version + 1, updatedAtUs: atUs,
  });
  return true;
}

export function applyNodeCommand(tables: Tables, command: NodeCommand): boolean {
  const { atUs } = command;
  if (command.type === 'node-register') {
    tables.putNode({
      id: command.id, name: command.name, version: 1, role: command.role, availability: 'active', status: 'ready',
      labels: copyStringRecord(command.labels), resources: copyResources(command.resources), reserved: noResources,
      address: command.address, lastHeartbeatUs: atUs, createdAtUs: atUs, updatedAtUs: atUs,
    });
    return true;
  }
  const node = tables.node(command.id);
  assert(node !== null, `validated ${command.type} of unknown node ${command.id}`);
  const bumped = { version: node.version + 1, updatedAtUs: atUs };
  switch (command.type) {
    case 'node-update':
      tables.putNode({
        ...node, ...bumped,
        availability: command.availability ?? node.availability,
        labels: command.labels === undefined ? node.labels : copyStringRecord(command.labels),
      });
      return true;
    case 'node-heartbeat': {
      // A heartbeat older than the node's last change (e.g. being marked down) must not revive it.
      const revive = node.status !== 'ready' && atUs > node.updatedAtUs;
      if (!revive && atUs <= node.lastHeartbeatUs) return false;
      tables.putNode({ ...node, ...(revive ? { ...bumped, status: 'ready' } : {}), lastHeartbeatUs: Math.max(node.lastHeartbeatUs, atUs) });
      return true;
    }
    case 'node-set-status':
      if (node.status === command.status) return false;
      tables.putNode({ ...node, ...bumped, status: command.status });
      return true;
    case 'node-remove':
      for (const task of tables.tasksOnNode(node.id)) {
        if (isTerminal(task.observedState)) continue;
        const observedState = isUnassigned(task.observedState) ? 'shutdown' : 'orphaned';
        // A task already being shut down keeps the cause it was given.
        const shutdown = task.desiredState === 'shutdown' ? {} : { shutdownCause: 'node-removed' as const, shutdownAtUs: atUs };
        tables.putTask({ ...task, desiredState: 'shutdown', ...shutdown, observedState, message: `node ${node.id} was removed`, version: task.version + 1, updatedAtUs: atUs });
      }
      tables.removeNode(node.id);
      return true;
  }
}

const hasLiveTasks = (tables: Tables, id: ServiceId): boolean =>
  tables.tasksOfService(id).some((t) => t.desiredState === 'running' && !isTerminal(t.observedState));

/** Equal but for the replica count: scaling alone does not roll tasks to a new spec version. */
function sameButReplicas(a: ServiceSpec, b: ServiceSpec): boolean {
  const withoutReplicas = (s: ServiceSpec): ServiceSpec => ({ ...s, mode: s.mode.type === 'global' ? s.mode : { type: 'replicated', replicas: 0 } });
  return canonicalJson(withoutReplicas(a)) === canonicalJson(withoutReplicas(b));
}

function startedStatus(tables: Tables, service: Service, state: 'updating' | 'rolling-back', atUs: number, message: string): UpdateStatus {
  if (hasLiveTasks(tables, service.id)) return { state, startedAtUs: atUs, completedAtUs: null, message };
  const done = state === 'updating' ? 'completed' : 'rolled-back';
  return { state: done, startedAtUs: atUs, completedAtUs: atUs, message: message === '' ? 'no tasks to update' : message };
}

export function applyServiceCommand(tables: Tables, command: ServiceCommand): boolean {
  const { atUs } = command;
  if (command.type === 'service-create') {
    tables.serviceTable.put({
      id: command.id, version: 1, spec: normalizeServiceSpec(command.spec), specVersion: 1, previousSpec: null,
      previousSpecVersion: null, updateStatus: null, createdAtUs: atUs, updatedAtUs: atUs,
    });
    return true;
  }
  const service = tables.service(command.id);
  assert(service !== null, `validated ${command.type} of unknown service ${command.id}`);
  const bumped = { ...service, version: service.version + 1, updatedAtUs: atUs };
  switch (command.type) {
    case 'service-update': {
      const spec = normalizeServiceSpec(command.spec);
      if (command.force !== true && sameButReplicas(service.spec, spec)) {
        tables.serviceTable.put({ ...bumped, spec });
        return true;
      }
      // Above every number used so far, so a number always names one spec (see isRolledBack).
      const specVersion = Math.max(service.specVersion, service.previousSpecVersion ?? 0) + 1;
      const updateStatus = startedStatus(tables, service, 'updating', atUs, '');
      tables.serviceTable.put({ ...bumped, spec, specVersion, previousSpec: service.spec, previousSpecVersion: service.specVersion, updateStatus });
      return true;
    }
    case 'service-rollback': {
      assert(service.previousSpec !== null && service.previousSpecVersion !== null, `validated rollback of ${service.id} without previous spec`);
      const updateStatus = startedStatus(tables, service, 'rolling-back', atUs, truncateMessage(command.message ?? 'manual rollback'));
      tables.serviceTable.put({
        ...bumped, spec: service.previousSpec, specVersion: service.previousSpecVersion, previousSpec: service.spec,
        previousSpecVersion: service.specVersion, updateStatus,
      });
      return true;
    }
    case 'service-set-update-status': {
      const current = service.updateStatus;
      assert(current !== null, `validated update status of ${service.id} without an update`);
      const completedAtUs = command.state === 'completed' || command.state === 'rolled-back' ? atUs : null;
      const updateStatus: UpdateStatus = { state: command.state, startedAtUs: current.startedAtUs, completedAtUs, message: truncateMessage(command.message) };
      tables.serviceTable.put({ ...bumped, updateStatus });
      return true;
    }
    case 'service-remove':
      for (const task of tables.tasksOfService(service.id)) shutDownTask(tables, task, atUs, `service ${service.id} was removed`, 'service-removed');
      tables.serviceTable.remove(service.id);
      return true;
  }
}
