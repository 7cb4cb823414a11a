import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createService, register, sid } from '../state/testing.ts';
import { isTerminal } from '../state/index.ts';
import { reapableTasks } from './history.ts';
import { ReconcileWorld } from './testing.ts';

function crashLoopWorld(): ReconcileWorld {
  const w = new ReconcileWorld();
  w.apply(register('n1', { atUs: 1 }));
  w.failingImages.add('crash:1');
  w.apply(createService('web', { image: 'crash:1', mode: { type: 'replicated', replicas: 1 }, restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 } }));
  w.run(60);
  return w;
}

test('only ended tasks are reaped, the newest of each slot and its recent history stay', () => {
  const w = crashLoopWorld();
  const tasks = w.state.tasksOfService(sid('web'));
  assert.ok(tasks.length > 10, `a crash loop leaves history: ${tasks.length} tasks`);
  const reap = new Set(reapableTasks(w.state, { everyUs: 1, keepEndedPerSlot: 3, maxTasks: 1000 }));
  const newest = [...tasks].sort((a, b) => a.createdAtUs - b.createdAtUs).at(-1)!;
  assert.ok(!reap.has(newest.id), 'the newest task of the slot stays');
  for (const id of reap) assert.ok(isTerminal(w.state.task(id)!.observedState), `${id} is terminal`);
  assert.equal(tasks.length - reap.size, 4, 'the newest task and the three newest ended ones stay');
  w.apply({ type: 'task-remove', taskIds: [...reap], atUs: w.nowUs });
  w.run(20);
  assert.ok(w.state.tasksOfService(sid('web')).length < tasks.length + 20, 'the reconciler carries on after compaction');
});

test('every ended task of a removed service goes, at most maxTasks at a time, oldest first', () => {
  const w = crashLoopWorld();
  w.apply({ type: 'service-remove', id: sid('web'), atUs: w.nowUs });
  w.run(5);
  const all = reapableTasks(w.state, { everyUs: 1, keepEndedPerSlot: 3, maxTasks: 1000 });
  assert.equal(all.length, w.state.tasks().length, 'nothing of a removed service stays once ended');
  const some = reapableTasks(w.state, { everyUs: 1, keepEndedPerSlot: 3, maxTasks: 5 });
  assert.deepEqual(some, all.slice(0, 5));
});
