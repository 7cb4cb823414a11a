// Behaviour of apply: the task state machine, reservations, ports and volumes held by live tasks,
// service updates and rollbacks, removals, heartbeats and the order of lists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from './store.ts';
import { applyAll, assign, createService, createTasks, nid, register, report, sid, spec, tid } from './testing.ts';
import type { VolumeId } from './types.ts';

function withTask(): ClusterState {
  return applyAll(new ClusterState(), [register('n1'), createService('s-1', { name: 'web' }), createTasks('s-1', [{ id: 't1' }])]);
}

test('a task moves forward through the state machine and its reservation is held until it is terminal', () => {
  const state = withTask();
  assert.equal(state.task(tid('t1'))?.observedState, 'new');
  applyAll(state, [assign([['t1', 'n1']])]);
  assert.deepEqual(state.node(nid('n1'))?.reserved, { cpuMillis: 100, memoryBytes: 1000 });
  for (const next of ['starting', 'running'] as const) {
    assert.deepEqual(state.apply(report('t1', next)), { ok: true, changed: true });
    assert.equal(state.task(tid('t1'))?.observedState, next);
  }
  assert.deepEqual(state.apply(report('t1', 'failed', 9, 137)), { ok: true, changed: true });
  const task = state.task(tid('t1'));
  assert.equal(task?.observedState, 'failed');
  assert.equal(task?.exitCode, 137);
  assert.deepEqual(state.node(nid('n1'))?.reserved, { cpuMillis: 0, memoryBytes: 0 });
  assert.equal(state.claimOf(tid('t1')), null);
});

test('a stale or duplicated report is ignored, not an error', () => {
  const state = withTask();
  applyAll(state, [assign([['t1', 'n1']]), report('t1', 'running')]);
  const version = state.task(tid('t1'))?.version;
  assert.deepEqual(state.apply(report('t1', 'starting')), { ok: true, changed: false });
  assert.deepEqual(state.apply(report('t1', 'running')), { ok: true, changed: false });
  applyAll(state, [report('t1', 'complete', 6, 0)]);
  assert.deepEqual(state.apply(report('t1', 'failed')), { ok: true, changed: false });
  assert.deepEqual(state.apply(report('t1', 'running')), { ok: true, changed: false });
  assert.equal(state.task(tid('t1'))?.observedState, 'complete');
  assert.equal(state.task(tid('t1'))?.version, (version ?? 0) + 1);
});

test('a report may skip states forward but never names a manager-owned state or an unplaced task', () => {
  const state = withTask();
  const refusal = state.apply(report('t1', 'running'));
  assert.deepEqual(refusal, { ok: false, error: { code: 'failed-precondition', message: 'task t1 is new: it is not assigned to a node, so nothing can report on it' } });
  applyAll(state, [assign([['t1', 'n1']])]);
  assert.deepEqual(state.apply(report('t1', 'pending')), {
    ok: false,
    error: { code: 'invalid-argument', message: 'state must be one of starting, running, complete, failed, shutdown, rejected, orphaned; got "pending"' },
  });
  assert.deepEqual(state.apply(report('t1', 'running')), { ok: true, changed: true });
});

test('host ports and volumes are held by live tasks and freed when they end', () => {
  const state = applyAll(new ClusterState(), [
    register('n1'),
    register('n2'),
    { type: 'volume-create', id: 'v-1' as VolumeId, name: 'data', driver: 'local', nodeId: null, atUs: 1 },
    createService('s-1', { name: 'db', ports: [{ target: 5432, published: 5432, protocol: 'tcp', mode: 'host' }], mounts: [{ volume: 'data', target: '/d', readOnly: false }] }),
    createTasks('s-1', [{ id: 't1' }, { id: 't2' }]),
    assign([['t1', 'n1']]),
  ]);
  assert.equal(state.hostPortOwner(nid('n1'), 'tcp', 5432), 't1');
  assert.deepEqual(state.hostPortsInUse(nid('n1')), ['tcp/5432']);
  assert.equal(state.volumeByName('data')?.nodeId, 'n1', 'the first assignment binds the volume to its node');
  const moved = state.apply(assign([['t2', 'n2']]));
  assert.deepEqual(moved, { ok: false, error: { code: 'failed-precondition', message: 'volume "data" lives on node n1; task t2 cannot run on node n2', index: 0 } });
  applyAll(state, [report('t1', 'shutdown'), assign([['t2', 'n1']])]);
  assert.equal(state.hostPortOwner(nid('n1'), 'tcp', 5432), 't2');
});

test('a service update saves the previous spec, bumps the spec version and starts an update when there are tasks', () => {
  const state = withTask();
  applyAll(state, [{ type: 'service-update', id: sid('s-1'), version: 1, spec: spec({ name: 'web', image: 'nginx:2' }), atUs: 10 }]);
  const service = state.service(sid('s-1'));
  assert.equal(service?.specVersion, 2);
  assert.equal(service?.version, 2);
  assert.equal(service?.previousSpec?.image, 'nginx:1.27');
  assert.equal(service?.previousSpecVersion, 1);
  assert.deepEqual(service?.updateStatus, { state: 'updating', startedAtUs: 10, completedAtUs: null, message: '' });
});

test('scaling alone keeps the spec version; force bumps it; no tasks means the update is complete at once', () => {
  const state = applyAll(new ClusterState(), [createService('s-1', { name: 'web' })]);
  applyAll(state, [{ type: 'service-update', id: sid('s-1'), version: 1, spec: spec({ name: 'web', mode: { type: 'replicated', replicas: 5 } }), atUs: 10 }]);
  assert.equal(state.service(sid('s-1'))?.specVersion, 1);
  assert.equal(state.service(sid('s-1'))?.updateStatus, null);
  applyAll(state, [{ type: 'service-update', id: sid('s-1'), version: 2, spec: spec({ name: 'web', mode: { type: 'replicated', replicas: 5 } }), force: true, atUs: 11 }]);
  assert.equal(state.service(sid('s-1'))?.specVersion, 2);
  assert.deepEqual(state.service(sid('s-1'))?.updateStatus, { state: 'completed', startedAtUs: 11, completedAtUs: 11, message: 'no tasks to update' });
});

test('a rollback returns to the previous spec and its version; a later update never reuses a spec version', () => {
  const state = withTask();
  const update = (version: number, image: string, atUs: number) =>
    ({ type: 'service-update', id: sid('s-1'), version, spec: spec({ name: 'web', image }), atUs }) as const;
  applyAll(state, [update(1, 'nginx:2', 10), { type: 'service-rollback', id: sid('s-1'), version: 2, atUs: 11 }]);
  let service = state.service(sid('s-1'));
  assert.equal(service?.spec.image, 'nginx:1.27');
  assert.equal(service?.specVersion, 1);
  assert.equal(service?.previousSpecVersion, 2);
  assert.deepEqual(service?.updateStatus, { state: 'rolling-back', startedAtUs: 11, completedAtUs: null, message: 'manual rollback' });
  applyAll(state, [update(3, 'nginx:3', 12)]);
  service = state.service(sid('s-1'));
  assert.equal(service?.specVersion, 3, 'version 2 named nginx:2; nginx:3 must get a new number');
  assert.equal(service?.previousSpecVersion, 1);
});

test('removing a service asks its tasks to shut down and frees its name', () => {
  const state = withTask();
  applyAll(state, [createTasks('s-1', [{ id: 't2', slot: 2 }]), assign([['t1', 'n1']]), { type: 'service-remove', id: sid('s-1'), atUs: 20 }]);
  assert.equal(state.service(sid('s-1')), null);
  assert.equal(state.serviceByName('web'), null);
  const [t1, t2] = state.tasksOfService(sid('s-1'));
  assert.deepEqual([t1.desiredState, t1.observedState], ['shutdown', 'assigned'], 'a placed task waits for its agent');
  assert.deepEqual([t2.desiredState, t2.observedState], ['shutdown', 'shutdown'], 'an unplaced task is shut down at once');
  applyAll(state, [createService('s-2', { name: 'web' }), report('t1', 'shutdown', 21), { type: 'task-remove', taskIds: [tid('t1'), tid('t2')], atUs: 22 }]);
  assert.deepEqual(state.tasksOfService(sid('s-1')), []);
  assert.deepEqual(state.tasksOnNode(nid('n1')), []);
});

test('a forced node removal orphans its live tasks and releases what they held', () => {
  const state = withTask();
  applyAll(state, [assign([['t1', 'n1']]), { type: 'node-remove', id: nid('n1'), force: true, atUs: 30 }]);
  assert.equal(state.node(nid('n1')), null);
  assert.deepEqual(state.nodes(), []);
  const task = state.task(tid('t1'));
  assert.deepEqual([task?.desiredState, task?.observedState], ['shutdown', 'orphaned']);
  assert.equal(state.claimOf(tid('t1')), null);
});

test('heartbeats mark a node ready, but one older than its marking down does not revive it', () => {
  const state = applyAll(new ClusterState(), [register('n1', { atUs: 100 })]);
  assert.deepEqual(state.apply({ type: 'node-heartbeat', id: nid('n1'), atUs: 200 }), { ok: true, changed: true });
  assert.equal(state.node(nid('n1'))?.version, 1, 'a heartbeat of a ready node does not race operator updates');
  assert.equal(state.node(nid('n1'))?.lastHeartbeatUs, 200);
  applyAll(state, [{ type: 'node-set-status', id: nid('n1'), status: 'down', atUs: 500 }]);
  applyAll(state, [{ type: 'node-heartbeat', id: nid('n1'), atUs: 400 }]);
  assert.equal(state.node(nid('n1'))?.status, 'down');
  applyAll(state, [{ type: 'node-heartbeat', id: nid('n1'), atUs: 600 }]);
  assert.equal(state.node(nid('n1'))?.status, 'ready');
  assert.equal(state.node(nid('n1'))?.version, 3);
});

test('lists are in id order whatever the order of creation', () => {
  const state = applyAll(new ClusterState(), [register('n3'), register('n1'), register('n2')]);
  assert.deepEqual(state.nodes().map((n) => n.id), ['n1', 'n2', 'n3']);
  applyAll(state, [createService('s-b', { name: 'b' }), createService('s-a', { name: 'a' }), createTasks('s-b', [{ id: 'z' }, { id: 'a' }])]);
  assert.deepEqual(state.services().map((s) => s.id), ['s-a', 's-b']);
  assert.deepEqual(state.tasksOfService(sid('s-b')).map((t) => t.id), ['a', 'z']);
});

test('pending reasons move a new task to pending and repeat without churn', () => {
  const state = withTask();
  const reason = { type: 'task-set-pending-reason', reasons: [{ taskId: tid('t1'), message: 'no node satisfies constraint node.labels.zone==east' }], atUs: 5 } as const;
  assert.deepEqual(state.apply(reason), { ok: true, changed: true });
  assert.equal(state.task(tid('t1'))?.observedState, 'pending');
  assert.deepEqual(state.apply(reason), { ok: true, changed: false });
});
