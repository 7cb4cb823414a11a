import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createService, nid, register, sid, spec } from '../state/testing.ts';
import type { Task } from '../state/types.ts';
import { reconcile } from './reconciler.ts';
import { ReconcileWorld } from './testing.ts';

function world(nodes: number, labels: (i: number) => Record<string, string> = () => ({})): ReconcileWorld {
  const w = new ReconcileWorld();
  for (let i = 1; i <= nodes; i++) w.apply(register(`n${i}`, { labels: labels(i), atUs: 1 }));
  return w;
}
const nodesOf = (tasks: Task[]) => tasks.map((t) => t.nodeId).sort();
const slotsOf = (tasks: Task[]) => tasks.map((t) => t.slot).sort();

test('a replicated service gets one running task per slot, spread over the nodes', () => {
  const w = world(3);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 } }));
  w.run(5);
  assert.deepEqual(slotsOf(w.running('web')), [1, 2, 3]);
  assert.deepEqual(nodesOf(w.running('web')), ['n1', 'n2', 'n3']);
  assert.deepEqual(reconcile(w.state, w.input()), [], 'a converged cluster needs nothing');
});

test('scaling up fills new slots; scaling down removes the highest slots', () => {
  const w = world(3);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 2 } }));
  w.run(5);
  const s = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', mode: { type: 'replicated', replicas: 5 } }), atUs: w.nowUs });
  w.run(5);
  assert.deepEqual(slotsOf(w.running('web')), [1, 2, 3, 4, 5]);
  const s2 = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s2.id, version: s2.version, spec: spec({ name: 'web', mode: { type: 'replicated', replicas: 2 } }), atUs: w.nowUs });
  w.run(5);
  assert.deepEqual(slotsOf(w.running('web')), [1, 2]);
});

test('a node that stops heartbeating is marked down and its tasks move; back, it runs no extra task', () => {
  const w = world(3);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 } }));
  w.run(5);
  w.dead.add(nid('n2'));
  w.run(70); // past the heartbeat timeout
  assert.equal(w.state.node(nid('n2'))!.status, 'down');
  assert.deepEqual(slotsOf(w.running('web')), [1, 2, 3]);
  assert.ok(!nodesOf(w.running('web')).includes(nid('n2')));
  w.dead.delete(nid('n2'));
  w.run(10);
  assert.equal(w.state.node(nid('n2'))!.status, 'ready');
  assert.equal(w.running('web').length, 3);
});

test('draining a node moves its tasks off it', () => {
  const w = world(3);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 } }));
  w.run(5);
  const n1 = w.state.node(nid('n1'))!;
  w.apply({ type: 'node-update', id: n1.id, version: n1.version, availability: 'drain', atUs: w.nowUs });
  w.run(5);
  assert.equal(w.running('web').length, 3);
  assert.ok(!nodesOf(w.running('web')).includes(nid('n1')));
});

test('a failing task is replaced with growing backoff and an incremented restart count', () => {
  const w = world(2);
  w.failingImages.add('crash:1');
  w.apply(createService('web', { image: 'crash:1', mode: { type: 'replicated', replicas: 1 }, restartPolicy: { condition: 'any', delayMs: 1000, maxAttempts: 0, windowMs: 0 } }));
  w.run(200); // 20 s
  const tasks = w.state.tasksOfService(sid('web'));
  const counts = tasks.map((t) => t.restartCount).sort((a, b) => a - b);
  assert.ok(tasks.length >= 3 && tasks.length <= 6, `backoff 1 s, 2 s, 4 s, 8 s...: ${tasks.length} tasks in 20 s`);
  assert.deepEqual(counts, counts.map((_, i) => i));
});

test('restart policy none leaves a failed slot empty; max attempts stops restarts', () => {
  const w = world(1);
  w.failingImages.add('crash:1');
  w.apply(createService('once', { image: 'crash:1', mode: { type: 'replicated', replicas: 1 }, restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 } }));
  w.apply(createService('thrice', { image: 'crash:1', mode: { type: 'replicated', replicas: 1 }, restartPolicy: { condition: 'on-failure', delayMs: 0, maxAttempts: 2, windowMs: 0 } }));
  w.run(50);
  assert.equal(w.state.tasksOfService(sid('once')).length, 1);
  assert.equal(w.state.tasksOfService(sid('thrice')).length, 3, 'the first run and two restarts');
});

test('a stop-first rolling update never has more slots down than its parallelism, and completes', () => {
  const w = world(4);
  const update = { parallelism: 2, delayMs: 0, order: 'stop-first' as const, monitorMs: 500, maxFailureRatio: 0, failureAction: 'pause' as const };
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 6 }, update }));
  w.run(5);
  const s = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:1.28', mode: { type: 'replicated', replicas: 6 }, update }), atUs: w.nowUs });
  let worst = 0;
  w.run(60, 100_000, () => {
    const down = 6 - w.running('web').length;
    worst = Math.max(worst, down);
  });
  assert.ok(worst <= 2, `at most 2 down at once, saw ${worst}`);
  const after = w.state.service(sid('web'))!;
  assert.equal(after.updateStatus?.state, 'completed');
  assert.ok(w.running('web').every((t) => t.specVersion === after.specVersion));
  assert.equal(w.running('web').length, 6);
});

test('a start-first update keeps every slot running throughout', () => {
  const w = world(3);
  const update = { parallelism: 1, delayMs: 0, order: 'start-first' as const, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause' as const };
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 }, update }));
  w.run(5);
  const s = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:1.28', mode: { type: 'replicated', replicas: 3 }, update }), atUs: w.nowUs });
  w.run(40, 100_000, () => assert.ok(w.running('web').length >= 3, `${w.running('web').length} running`));
  assert.equal(w.state.service(sid('web'))!.updateStatus?.state, 'completed');
});

test('an update whose tasks fail beyond the ratio is rolled back automatically', () => {
  const w = world(3);
  w.failingImages.add('nginx:broken');
  const update = { parallelism: 1, delayMs: 0, order: 'stop-first' as const, monitorMs: 1000, maxFailureRatio: 0.2, failureAction: 'rollback' as const };
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 }, update, rollback: { ...update, failureAction: 'pause' } }));
  w.run(5);
  const s = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:broken', mode: { type: 'replicated', replicas: 3 }, update, rollback: { ...update, failureAction: 'pause' } }), atUs: w.nowUs });
  w.run(120);
  const after = w.state.service(sid('web'))!;
  assert.equal(after.updateStatus?.state, 'rolled-back');
  assert.equal(after.spec.image, 'nginx:1.27');
  assert.equal(w.running('web').length, 3);
  assert.ok(w.running('web').every((t) => t.specVersion === after.specVersion));
});

test('a global service runs one task per eligible node and follows nodes joining and draining', () => {
  const w = world(2);
  w.apply(createService('agent', { mode: { type: 'global' } }));
  w.run(5);
  assert.deepEqual(nodesOf(w.running('agent')), ['n1', 'n2']);
  w.apply(register('n3', { atUs: w.nowUs }));
  w.run(5);
  assert.deepEqual(nodesOf(w.running('agent')), ['n1', 'n2', 'n3']);
  const n2 = w.state.node(nid('n2'))!;
  w.apply({ type: 'node-update', id: n2.id, version: n2.version, availability: 'drain', atUs: w.nowUs });
  w.run(5);
  assert.deepEqual(nodesOf(w.running('agent')), ['n1', 'n3']);
});

test('an unschedulable task stays pending with the reason, and is placed once a node fits', () => {
  const w = world(2);
  w.apply(createService('db', { mode: { type: 'replicated', replicas: 1 }, placement: { constraints: ['node.labels.zone==east'], preferences: [] } }));
  w.run(3);
  const [pending] = w.live('db');
  assert.equal(pending!.observedState, 'pending');
  assert.match(pending!.message, /node\.labels\.zone==east/);
  w.apply(register('n9', { labels: { zone: 'east' }, atUs: w.nowUs }));
  w.run(5);
  assert.deepEqual(nodesOf(w.running('db')), ['n9']);
});

test('a new leader continues an update where the old one left it, creating nothing twice', () => {
  const w = world(4);
  const update = { parallelism: 1, delayMs: 0, order: 'stop-first' as const, monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause' as const };
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 4 }, update }));
  w.run(5);
  const s = w.state.service(sid('web'))!;
  w.apply({ type: 'service-update', id: s.id, version: s.version, spec: spec({ name: 'web', image: 'nginx:1.28', mode: { type: 'replicated', replicas: 4 }, update }), atUs: w.nowUs });
  w.run(3);
  // Leadership moves: a fresh reconciler with its own id stream and no memory of heartbeats.
  w.idPrefix = 'b';
  w.lastSeen.clear();
  w.leaderSinceUs = w.nowUs;
  w.run(40);
  assert.equal(w.state.service(sid('web'))!.updateStatus?.state, 'completed');
  const perSlot = new Map<number, number>();
  for (const t of w.live('web')) perSlot.set(t.slot!, (perSlot.get(t.slot!) ?? 0) + 1);
  assert.deepEqual([...perSlot.values()], [1, 1, 1, 1]);
  const created = w.state.tasksOfService(sid('web')).length;
  assert.equal(created, 8, 'four original tasks and exactly one replacement each');
});

test('a pass that marks a node down places nothing on it, so no batch is refused', () => {
  const w = world(3);
  w.run(2);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 } }));
  w.pass(); // creates the tasks while every node is alive
  w.dead.add(nid('n1'));
  w.nowUs += 6_000_000; // n1 is silent past the heartbeat timeout
  w.work(); // the live workers heartbeat (nothing is assigned yet)
  const commands = w.pass(); // marks n1 down and places the tasks: every command must apply
  assert.ok(commands.some((c) => c.type === 'node-set-status'));
  const assign = commands.find((c) => c.type === 'task-assign');
  assert.ok(assign && assign.type === 'task-assign' && assign.assignments.every((a) => a.nodeId !== nid('n1')));
});
