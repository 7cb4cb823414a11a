// The task state machine as a table: which reports advance a task, which are stale, which are errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdsClaim, reportOutcome, reportableTaskStates, taskStates } from './task-machine.ts';
import { nid, tid } from './testing.ts';
import type { ServiceId, Task, TaskState } from './types.ts';

const taskIn = (observedState: TaskState): Task => ({
  id: tid('t1'), version: 1, serviceId: 's1' as ServiceId, slot: 1, nodeId: nid('n1'), specVersion: 1, desiredState: 'running',
  shutdownCause: null, shutdownAtUs: null, observedState, message: '', exitCode: null, restartCount: 0, createdAtUs: 0, updatedAtUs: 0,
});

const order: readonly TaskState[] = ['assigned', 'starting', 'running'];
const terminal: readonly TaskState[] = ['complete', 'failed', 'shutdown', 'rejected', 'orphaned'];

test('from a placed live state, a report advances exactly when it names a later state', () => {
  for (const current of order) {
    for (const reported of reportableTaskStates) {
      const later = terminal.includes(reported) || order.indexOf(reported) > order.indexOf(current);
      assert.equal(reportOutcome(taskIn(current), reported), later ? 'advance' : 'stale', `${current} → ${reported}`);
    }
  }
});

test('a terminal task never moves again: every report on it is stale', () => {
  for (const current of terminal) for (const reported of reportableTaskStates) assert.equal(reportOutcome(taskIn(current), reported), 'stale');
});

test('reports on unplaced tasks and of manager-owned states are errors', () => {
  for (const current of ['new', 'pending'] as const) assert.equal((reportOutcome(taskIn(current), 'running') as { code: string }).code, 'failed-precondition');
  for (const reported of ['new', 'pending', 'assigned'] as const) assert.equal((reportOutcome(taskIn('running'), reported) as { code: string }).code, 'invalid-argument');
});

test('a task holds its claim from assigned until terminal', () => {
  const holding = taskStates.filter((s) => holdsClaim(taskIn(s)));
  assert.deepEqual(holding, ['assigned', 'starting', 'running']);
  assert.equal(holdsClaim({ ...taskIn('running'), nodeId: null }), false);
});
