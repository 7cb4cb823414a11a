// The planted orchestration bugs (OrchestrationBugs, config.ts) do what they say, and only when
// planted: each test runs the same scenario clean and with the bug. The chaos suite
// (chaos/orchestration-bugs.test.ts) proves the checkers catch them under faults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../state/index.ts';
import { assign, createService, createTasks, nid, register, sid, spec } from '../state/testing.ts';
import type { Task, UpdateConfig } from '../state/types.ts';
import { defaultReconcilerConfig, LeaderTaskCache, noOrchestrationBugs, type OrchestrationBugs } from './config.ts';
import { reconcile } from './reconciler.ts';
import { ReconcileWorld } from './testing.ts';

function world(nodes: number, bugs: Partial<OrchestrationBugs> = {}): ReconcileWorld {
  const planted = { ...noOrchestrationBugs, ...bugs };
  // The store carries the bugs too, as a manager's does (sim/orchestration/manager.ts).
  const w = new ReconcileWorld(planted);
  w.config = { ...defaultReconcilerConfig, bugs: planted };
  for (let i = 1; i <= nodes; i++) w.apply(register(`n${i}`, { atUs: 1 }));
  return w;
}

function drain(w: ReconcileWorld, node: string): void {
  const n = w.state.node(nid(node))!;
  w.apply({ type: 'node-update', id: n.id, version: n.version, availability: 'drain', atUs: w.nowUs });
}

const assignedNodes = (w: ReconcileWorld) =>
  w.proposed.flatMap((c) => (c.type === 'task-assign' ? c.assignments.map((a) => a.nodeId) : []));

test('schedule-on-drained: the scheduler places on a drained node and the store takes it; clean, neither does', () => {
  for (const planted of [false, true]) {
    // The store alone: an assignment to a drained node is refused unless its checks carry the bug.
    const state = new ClusterState(undefined, { scheduleOnDrained: planted });
    for (const c of [register('n1'), createService('web', { mode: { type: 'replicated', replicas: 1 } }), createTasks('web', [{ id: 't1' }])]) state.apply(c);
    const n1 = state.node(nid('n1'))!;
    state.apply({ type: 'node-update', id: n1.id, version: n1.version, availability: 'drain', atUs: 3 });
    assert.equal(state.apply(assign([['t1', 'n1']])).ok, planted);
    // The whole pass: only the drained node is free of the service's tasks, so spread picks it.
    const w = world(2, { scheduleOnDrained: planted });
    w.apply(createService('web', { mode: { type: 'replicated', replicas: 2 } }));
    w.run(5);
    drain(w, 'n2');
    w.run(5);
    assert.equal(assignedNodes(w).slice(2).includes(nid('n2')), planted, `planted ${planted}: assigned ${assignedNodes(w).join(', ')}`);
  }
});

test('ignore-max-failure-ratio: an update whose tasks all fail rolls back clean, and carries on over every slot with the bug', () => {
  const update: UpdateConfig = { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 1000, maxFailureRatio: 0.2, failureAction: 'rollback' };
  const shape = { mode: { type: 'replicated' as const, replicas: 3 }, update, rollback: { ...update, failureAction: 'pause' as const } };
  for (const planted of [false, true]) {
    const w = world(3, { ignoreMaxFailureRatio: planted });
    w.failingImages.add('nginx:broken');
    w.apply(createService('web', shape));
    w.run(5);
    const s = w.state.service(sid('web'))!;
    w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:broken', ...shape }), atUs: w.nowUs });
    w.run(120);
    const after = w.state.service(sid('web'))!;
    const brokenSlots = new Set(w.state.tasksOfService(s.id).filter((t) => t.specVersion === s.specVersion + 1).map((t) => t.slot));
    if (planted) {
      assert.notEqual(after.updateStatus?.state, 'rolled-back');
      assert.equal(after.spec.image, 'nginx:broken');
      assert.equal(brokenSlots.size, 3, 'every slot was given the failing version');
    } else {
      assert.equal(after.updateStatus?.state, 'rolled-back');
      assert.equal(brokenSlots.size, 1, 'the first failure stopped the update');
    }
  }
});

test('forget-task-on-failover: a leader whose cache was primed before the last leader\'s task applied fills its slot again and never stops it', () => {
  for (const planted of [false, true]) {
    const w = world(2, { forgetTaskOnFailover: planted });
    w.apply(createService('web', { mode: { type: 'replicated', replicas: 1 } }));
    // The new leader takes over now, before the old leader's create applies.
    const cache = new LeaderTaskCache(w.state.tasks());
    w.pass(); // the old leader's last pass: its task-create commits under the new leader
    const pass = () => {
      const commands = reconcile(w.state, { ...w.input(), taskCache: cache });
      for (const c of commands) w.apply(c);
    };
    for (let i = 0; i < 20; i++) {
      pass();
      w.work();
      w.nowUs += 100_000;
    }
    const running = w.running('web');
    assert.deepEqual(running.map((t: Task) => t.slot), planted ? [1, 1] : [1], `planted ${planted}`);
  }
});

test('double-slot: after a start-first update the old task keeps running beside its replacement', () => {
  const update: UpdateConfig = { parallelism: 1, delayMs: 0, order: 'start-first', monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause' };
  for (const planted of [false, true]) {
    const w = world(3, { doubleSlot: planted });
    w.apply(createService('web', { mode: { type: 'replicated', replicas: 2 }, update }));
    w.run(5);
    const s = w.state.service(sid('web'))!;
    w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:1.28', mode: { type: 'replicated', replicas: 2 }, update }), atUs: w.nowUs });
    w.run(40);
    assert.equal(w.state.service(sid('web'))!.updateStatus?.state, 'completed');
    assert.deepEqual(w.running('web').map((t) => t.slot).sort(), planted ? [1, 1, 2, 2] : [1, 2], `planted ${planted}`);
  }
});

test('no-rebalance: a node that comes back stays empty with the bug, and gets its share clean', () => {
  for (const planted of [false, true]) {
    const w = world(2, { noRebalance: planted });
    w.apply(createService('web', { mode: { type: 'replicated', replicas: 4 } }));
    w.run(5);
    w.dead.add(nid('n2'));
    w.run(70); // n2 is marked down and its tasks move to n1
    w.dead.delete(nid('n2'));
    w.run(defaultReconcilerConfig.rebalanceCooldownUs / 100_000 + 60);
    const onN2 = w.running('web').filter((t) => t.nodeId === nid('n2')).length;
    assert.equal(w.running('web').length, 4);
    assert.equal(onN2, planted ? 0 : 2, `planted ${planted}`);
  }
});

test('no planted bug by default', () => {
  assert.deepEqual(defaultReconcilerConfig.bugs, noOrchestrationBugs);
  assert.ok(Object.values(noOrchestrationBugs).every((v) => v === false));
});
