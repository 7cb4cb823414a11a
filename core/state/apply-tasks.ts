// Effects of task commands, run only after validateCommand passed on the same state (batches were
// validated whole, so each item applies). An assignment fixes the task's claim from the service's
// current spec and binds an unbound volume to the node; the claim is released by Tables.putTask when
// the task becomes terminal. Every change to a task bumps its version.

import { assert } from '../assert.ts';
import type { TaskCommand } from './commands.ts';
import { shutDownTask, truncateMessage } from './apply-nodes-services.ts';
import type { Tables } from './tables.ts';
import { reportOutcome } from './task-machine.ts';
import type { NodeId, Task, TaskId } from './types.ts';
import { claimForSpec } from './validate-tasks.ts';

function taskOf(tables: Tables, id: TaskId): Task {
  const task = tables.task(id);
  assert(task !== null, `validated command names unknown task ${id}`);
  return task;
}

export function applyTaskCommand(tables: Tables, command: TaskCommand): boolean {
  const { atUs } = command;
  const changed = (task: Task) => ({ ...task, version: task.version + 1, updatedAtUs: atUs });
  switch (command.type) {
    case 'task-create':
      for (const item of command.tasks) {
        tables.putTask({
          id: item.id, version: 1, serviceId: item.serviceId, slot: item.slot, nodeId: item.nodeId, specVersion: item.specVersion,
          desiredState: 'running', shutdownCause: null, shutdownAtUs: null, observedState: 'new', message: '', exitCode: null, restartCount: item.restartCount ?? 0,
          createdAtUs: atUs, updatedAtUs: atUs,
        });
      }
      return true;
    case 'task-assign':
      for (const { taskId, nodeId } of command.assignments) assign(tables, taskOf(tables, taskId), nodeId, atUs);
      return true;
    case 'task-set-pending-reason': {
      let any = false;
      for (const { taskId, message } of command.reasons) {
        const task = taskOf(tables, taskId);
        const text = truncateMessage(message);
        if (task.observedState === 'pending' && task.message === text) continue;
        tables.putTask({ ...changed(task), observedState: 'pending', message: text });
        any = true;
      }
      return any;
    }
    case 'task-set-desired': {
      let any = false;
      for (const change of command.changes) {
        // Validation allows only running → shutdown (or no change).
        if (change.desiredState === 'shutdown') any = shutDownTask(tables, taskOf(tables, change.taskId), atUs, 'shut down before it was placed', change.cause) || any;
      }
      return any;
    }
    case 'task-report': {
      const task = taskOf(tables, command.taskId);
      if (reportOutcome(task, command.state) !== 'advance') return false;
      tables.putTask({ ...changed(task), observedState: command.state, exitCode: command.exitCode, message: truncateMessage(command.message) });
      return true;
    }
    case 'task-remove':
      for (const id of command.taskIds) tables.removeTask(id);
      return true;
  }
}

function assign(tables: Tables, task: Task, nodeId: NodeId, atUs: number): void {
  const service = tables.service(task.serviceId);
  assert(service !== null && service.specVersion === task.specVersion, `validated assignment of task ${task.id} without its spec`);
  const claim = claimForSpec(service.spec);
  for (const name of claim.volumes) {
    const volume = tables.volumeByName(name);
    assert(volume !== null && (volume.nodeId === null || volume.nodeId === nodeId), `validated assignment of task ${task.id} off volume "${name}"`);
    if (volume.nodeId === null) tables.volumeTable.put({ ...volume, nodeId, version: volume.version + 1 });
  }
  tables.putTask({ ...task, nodeId, observedState: 'assigned', message: '', version: task.version + 1, updatedAtUs: atUs }, claim);
}
