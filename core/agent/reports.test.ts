import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { TaskId, TaskState } from '../state/types.ts';
import { ReportQueue } from './reports.ts';
import type { TaskReport } from './types.ts';

const report = (taskId: string, state: TaskState, atUs = 0): TaskReport => ({ taskId: taskId as TaskId, state, exitCode: null, message: '', atUs });

test('connected, every transition is kept in order', () => {
  const queue = new ReportQueue(10);
  for (const state of ['assigned', 'starting', 'running'] as const) queue.push(report('t1', state), false);
  assert.deepEqual(queue.take().map((r) => r.state), ['assigned', 'starting', 'running']);
  assert.equal(queue.length, 0);
});

test('coalescing keeps only the latest report per task, in the order of those latest reports', () => {
  const queue = new ReportQueue(10);
  queue.push(report('a', 'running'), true);
  queue.push(report('b', 'running'), true);
  queue.push(report('a', 'failed'), true);
  assert.deepEqual(queue.take().map((r) => `${r.taskId}:${r.state}`), ['b:running', 'a:failed']);
});

test('the queue never exceeds its bound: it coalesces first, then drops the oldest and counts them', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }),
    fc.array(fc.record({ task: fc.constantFrom('a', 'b', 'c', 'd', 'e'), coalesce: fc.boolean() }), { maxLength: 60 }),
    (capacity, pushes) => {
      const queue = new ReportQueue(capacity);
      const latest = new Map<string, number>();
      pushes.forEach((p, i) => {
        queue.push(report(p.task, 'running', i), p.coalesce);
        latest.set(p.task, i);
        assert.ok(queue.length <= capacity);
      });
      const taken = queue.take();
      // The very last report always survives, and whatever survives for a task is its latest when
      // the queue had to shed.
      if (pushes.length > 0) assert.equal(taken.at(-1)!.atUs, pushes.length - 1);
      if (queue.dropped > 0) for (const r of taken) assert.equal(r.atUs, latest.get(r.taskId));
    },
  ));
});
