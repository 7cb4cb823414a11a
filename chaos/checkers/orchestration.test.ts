import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNode, NodeId, Service, ServiceId, ServiceSpec, Task, TaskId, TaskState, UpdateConfig, Volume, VolumeId } from '../../core/state/types.ts';
import { convergenceProblems, updateAvailabilityProblem, type OrchestrationSnapshot, type RunningContainer } from './orchestration.ts';
import {
  drainedAssignmentChecker, drainedAssignmentProblem, newOrchestrationChecks, updateFailureActionChecker, updateFailureActionProblem, type StoreReader,
} from './orchestration.ts';
import type { StateCommand, StateView } from '../../core/state/index.ts';

const update: UpdateConfig = { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 0, maxFailureRatio: 0, failureAction: 'pause' };
const baseSpec: ServiceSpec = {
  name: 'web', image: 'web:1', command: [], args: [], env: {}, mode: { type: 'replicated', replicas: 2 },
  placement: { constraints: [], preferences: [] }, reservations: { cpuMillis: 0, memoryBytes: 0 }, limits: { cpuMillis: 0, memoryBytes: 0 },
  ports: [], mounts: [], secrets: [], healthCheck: null, restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  update, rollback: update, stopGracePeriodMs: 1000,
};
const node = (id: string, over: Partial<ClusterNode> = {}): ClusterNode => ({
  id: id as NodeId, name: id, version: 1, role: 'worker', availability: 'active', status: 'ready', labels: {},
  resources: { cpuMillis: 4000, memoryBytes: 8 << 30 }, reserved: { cpuMillis: 0, memoryBytes: 0 }, address: id, lastHeartbeatUs: 0, createdAtUs: 0, updatedAtUs: 0, ...over,
});
const service = (over: Partial<Service> = {}, spec: Partial<ServiceSpec> = {}): Service => ({
  id: 's1' as ServiceId, version: 1, spec: { ...baseSpec, ...spec }, specVersion: 1, previousSpec: null, previousSpecVersion: null, updateStatus: null, createdAtUs: 0, updatedAtUs: 0, ...over,
});
let created = 0;
const task = (id: string, slot: number | null, nodeId: string, over: Partial<Task> = {}): Task => ({
  id: id as TaskId, version: 1, serviceId: 's1' as ServiceId, slot, nodeId: nodeId as NodeId, specVersion: 1, desiredState: 'running', observedState: 'running' as TaskState,
  shutdownCause: null, shutdownAtUs: null, message: '', exitCode: null, restartCount: 0, createdAtUs: created++, updatedAtUs: 0, ...over,
});
const run = (taskId: string, nodeId: string): RunningContainer => ({ taskId: taskId as TaskId, nodeId: nodeId as NodeId });

function snapshot(over: Partial<OrchestrationSnapshot>): OrchestrationSnapshot {
  return { services: [service()], nodes: [node('n1'), node('n2')], tasks: [], volumes: [], running: [], secretsDelivered: [], eligible: (n) => n.availability === 'active' && n.status === 'ready', ...over };
}

test('a converged replicated service has no problems', () => {
  const s = snapshot({ tasks: [task('t1', 1, 'n1'), task('t2', 2, 'n2')], running: [run('t1', 'n1'), run('t2', 'n2')] });
  assert.deepEqual(convergenceProblems(s), []);
});

test('too few running tasks, and two tasks in one slot, are reported', () => {
  const few = snapshot({ tasks: [task('t1', 1, 'n1')], running: [run('t1', 'n1')] });
  assert.deepEqual(convergenceProblems(few), ['service web (s1): 1 running tasks, want 2']);
  const doubled = snapshot({ tasks: [task('t1', 1, 'n1'), task('t2', 1, 'n2')], running: [run('t1', 'n1'), run('t2', 'n2')] });
  assert.deepEqual(convergenceProblems(doubled), ['service web (s1): slot 1 has 2 running tasks']);
});

test('tasks on drained or down nodes, and stale spec versions, are reported', () => {
  const s = snapshot({
    services: [service({ specVersion: 2 })],
    nodes: [node('n1', { availability: 'drain' }), node('n2', { status: 'down' })],
    tasks: [task('t1', 1, 'n1', { specVersion: 2 }), task('t2', 2, 'n2', { specVersion: 1 })],
    running: [run('t1', 'n1'), run('t2', 'n2')],
  });
  const problems = convergenceProblems(s);
  assert.ok(problems.includes('task t1 runs on drained node n1'), problems.join('\n'));
  assert.ok(problems.includes('task t2 runs on down node n2'));
  assert.ok(problems.includes('service web (s1): task t2 still runs spec version 1, not 2'));
});

test('a global service needs exactly one task on each eligible node and none elsewhere', () => {
  const global = service({}, { mode: { type: 'global' } });
  const ok = snapshot({ services: [global], nodes: [node('n1'), node('n2'), node('n3', { availability: 'pause' })], tasks: [task('a', null, 'n1'), task('b', null, 'n2')], running: [run('a', 'n1'), run('b', 'n2')] });
  assert.deepEqual(convergenceProblems(ok), []);
  const missing = snapshot({ services: [global], tasks: [task('a', null, 'n1')], running: [run('a', 'n1')] });
  assert.deepEqual(convergenceProblems(missing), ['service web (s1): 0 running tasks on eligible node n2, want 1']);
});

test('volume-bound tasks must run on the volume node, and secrets only where they are used', () => {
  const vol: Volume = { id: 'v1' as VolumeId, name: 'data', version: 1, driver: 'local', nodeId: 'n1' as NodeId, createdAtUs: 0 };
  const s = snapshot({
    services: [service({}, { mounts: [{ volume: 'data', target: '/data', readOnly: false }], secrets: [{ secret: 'db', target: 'db' }], mode: { type: 'replicated', replicas: 1 } })],
    volumes: [vol],
    tasks: [task('t1', 1, 'n2')],
    running: [run('t1', 'n2')],
    secretsDelivered: [{ nodeId: 'n2' as NodeId, secret: 'db' }, { nodeId: 'n1' as NodeId, secret: 'db' }],
  });
  assert.deepEqual(convergenceProblems(s), ['task t1 mounts volume data on n2, but the volume lives on n1', 'secret db is on node n1, which runs no task that uses it']);
});

test('a converged replicated service runs within one task per eligible node with room, once it is otherwise as desired', () => {
  const four = service({}, { mode: { type: 'replicated', replicas: 4 } });
  const onN1 = [task('a', 1, 'n1'), task('b', 2, 'n1'), task('c', 3, 'n1'), task('d', 4, 'n2')];
  const runs = (tasks: Task[]) => tasks.map((t) => run(t.id, t.nodeId!));
  const uneven = snapshot({ services: [four], tasks: onN1, running: runs(onN1) });
  assert.deepEqual(convergenceProblems(uneven), [
    'service web (s1): uneven over its eligible nodes: 3 running tasks on n1, 1 on n2, which has room for more; want every count within one of the others',
  ]);
  const even = [task('a', 1, 'n1'), task('b', 2, 'n1'), task('c', 3, 'n2'), task('d', 4, 'n2')];
  assert.deepEqual(convergenceProblems(snapshot({ services: [four], tasks: even, running: runs(even) })), []);
  // 2/1 is as even as three tasks on two nodes get.
  const three = service({}, { mode: { type: 'replicated', replicas: 3 } });
  const twoOne = [task('a', 1, 'n1'), task('b', 2, 'n1'), task('c', 3, 'n2')];
  assert.deepEqual(convergenceProblems(snapshot({ services: [three], tasks: twoOne, running: runs(twoOne) })), []);
  // Nodes that are not eligible, or have no room for one more, do not count as the emptiest.
  const paused = snapshot({ services: [four], nodes: [node('n1'), node('n2'), node('n3', { availability: 'pause' })], tasks: even, running: runs(even) });
  assert.deepEqual(convergenceProblems(paused), []);
  const full = node('n3', { reserved: { cpuMillis: 4000, memoryBytes: 0 } });
  const crowded = service({}, { mode: { type: 'replicated', replicas: 4 }, reservations: { cpuMillis: 100, memoryBytes: 0 } });
  assert.deepEqual(convergenceProblems(snapshot({ services: [crowded], nodes: [node('n1'), node('n2'), full], tasks: even, running: runs(even) })), []);
  const roomy = snapshot({ services: [crowded], nodes: [node('n1'), node('n2'), node('n3')], tasks: even, running: runs(even) });
  assert.equal(convergenceProblems(roomy).length, 1, 'the same with room on n3');
  // Not while the service is otherwise off its desired state, nor for tasks bound to volumes.
  assert.deepEqual(convergenceProblems(snapshot({ services: [four], tasks: onN1, running: runs(onN1.slice(0, 3)) })), ['service web (s1): 3 running tasks, want 4']);
  const withVolume = service({}, { mode: { type: 'replicated', replicas: 4 }, mounts: [{ volume: 'data', target: '/data', readOnly: false }] });
  assert.deepEqual(convergenceProblems(snapshot({ services: [withVolume], tasks: onN1, running: runs(onN1) })), []);
});

// Rolling-update availability. The update (or rollback) below started at `sinceUs`; the service is
// at spec version 2 with 3 slots and parallelism 1. Slot 3 always runs; slot 1 is the one slot the
// updater has down; each test adds a slot 2 down for some other reason, which must not count, or
// down by the updater too, which must.
const sinceUs = 1_000;
const during = (state: 'updating' | 'rolling-back' = 'updating', specVersion = 2): Service =>
  service({ specVersion, updateStatus: { state, startedAtUs: sinceUs, completedAtUs: null, message: '' } }, { mode: { type: 'replicated', replicas: 3 } });
/** A task the managers shut down at `atUs` for `cause`, and that has stopped since. */
const stopped = (id: string, slot: number, cause: Task['shutdownCause'], atUs: number, over: Partial<Task> = {}): Task =>
  task(id, slot, 'n1', { desiredState: 'shutdown', observedState: 'shutdown', shutdownCause: cause, shutdownAtUs: atUs, createdAtUs: 10, updatedAtUs: atUs + 50, ...over });
/** A task of spec version 2 created at `atUs` that has not started yet. */
const replacement = (id: string, slot: number, atUs: number, over: Partial<Task> = {}): Task =>
  task(id, slot, 'n2', { specVersion: 2, observedState: 'starting', createdAtUs: atUs, updatedAtUs: atUs, ...over });
/** Slot 1 taken down by the updater, slot 3 running; `slot2` adds slot 2's tasks. */
function updateSnapshot(svc: Service, slot2: Task[], running2: string[] = []): OrchestrationSnapshot {
  const tasks = [stopped('o1', 1, 'update', 1_100), replacement('r1', 1, 1_100), task('o3', 3, 'n2', { createdAtUs: 10 }), ...slot2];
  return snapshot({ services: [svc], tasks, running: [run('o3', 'n2'), ...running2.map((id) => run(id, 'n2'))] });
}

test('a stop-first update with parallelism 1 may have one slot down, not two', () => {
  const svc = during();
  assert.equal(updateAvailabilityProblem(updateSnapshot(svc, [task('o2', 2, 'n1', { createdAtUs: 10 })], ['o2']), svc), null);
  // Slot 2 taken down by the update beside slot 1: its replacement not started, or not even created yet.
  const two = updateSnapshot(svc, [stopped('o2', 2, 'update', 1_100), replacement('r2', 2, 1_100, { observedState: 'pending' })]);
  assert.equal(updateAvailabilityProblem(two, svc), 'service web (s1): the stop-first update has 2 slots down at once (slots 1, 2); its parallelism allows 1');
  const noReplacement = updateSnapshot(svc, [stopped('o2', 2, 'update', 1_200)]);
  assert.match(updateAvailabilityProblem(noReplacement, svc) ?? '', /2 slots down at once \(slots 1, 2\)/);
  // A slot whose stopping task still runs is not down yet.
  const stopping = updateSnapshot(svc, [stopped('o2', 2, 'update', 1_200, { observedState: 'running' }), replacement('r2', 2, 1_200)], ['o2']);
  assert.equal(updateAvailabilityProblem(stopping, svc), null);
});

test('a rollback taking more slots down than its parallelism is reported as the rollback', () => {
  // Rolled back to spec version 1: the rollback stops the version-2 tasks and starts version-1 ones.
  const svc = during('rolling-back', 1);
  const back = (id: string, slot: number, atUs: number) => replacement(id, slot, atUs, { specVersion: 1 });
  const tasks = [
    stopped('o1', 1, 'update', 500), stopped('u1', 1, 'update', 1_100, { specVersion: 2, createdAtUs: 500 }), back('b1', 1, 1_100),
    stopped('o2', 2, 'update', 600), stopped('u2', 2, 'update', 1_100, { specVersion: 2, createdAtUs: 600 }), back('b2', 2, 1_100),
    task('o3', 3, 'n2', { createdAtUs: 10 }),
  ];
  const s = snapshot({ services: [svc], tasks, running: [run('o3', 'n2')] });
  assert.equal(updateAvailabilityProblem(s, svc), 'service web (s1): the stop-first rollback has 2 slots down at once (slots 1, 2); its parallelism allows 1');
});

test('slots scaled down, even when a scale-up or rollback brings them back into range, are not the updater\'s', () => {
  const svc = during();
  // Scaled down during the update, then back: its refill has not started yet.
  const back = updateSnapshot(svc, [stopped('o2', 2, 'scale-down', 1_200), replacement('r2', 2, 1_300)]);
  assert.equal(updateAvailabilityProblem(back, svc), null);
  // Scaled down just now, its replacement not created: still not the updater's.
  assert.equal(updateAvailabilityProblem(updateSnapshot(svc, [stopped('o2', 2, 'scale-down', 1_200)]), svc), null);
  // A slot above the replica count is no slot of the service at all.
  const above = updateSnapshot(svc, [stopped('o4', 4, 'update', 1_100), replacement('r4', 4, 1_100)]);
  assert.equal(updateAvailabilityProblem(above, svc), null);
});

test('slots drained during the update are not the updater\'s', () => {
  const svc = during();
  assert.equal(updateAvailabilityProblem(updateSnapshot(svc, [stopped('o2', 2, 'drain', 1_200), replacement('r2', 2, 1_200, { observedState: 'pending' })]), svc), null);
  // The update's replacement itself drained before it started: the drain's, not the update's.
  const drainedReplacement = updateSnapshot(svc, [
    stopped('o2', 2, 'update', 1_100), stopped('r2', 2, 'drain', 1_200, { specVersion: 2, createdAtUs: 1_100 }), replacement('r2b', 2, 1_200),
  ]);
  assert.equal(updateAvailabilityProblem(drainedReplacement, svc), null);
});

test('slots an earlier update took down, superseded by this update or by its rollback, are not this one\'s', () => {
  // An update to spec version 3 superseded the one to 2 before slot 2's replacement was made.
  const svc = during('updating', 3);
  const v3 = (id: string, slot: number, atUs: number) => replacement(id, slot, atUs, { specVersion: 3 });
  const tasks = [
    stopped('o1', 1, 'update', 1_100, { specVersion: 2 }), v3('r1', 1, 1_100), task('o3', 3, 'n2', { createdAtUs: 10, specVersion: 2 }),
    stopped('o2', 2, 'update', 900), v3('r2', 2, 1_050),
  ];
  assert.equal(updateAvailabilityProblem(snapshot({ services: [svc], tasks, running: [run('o3', 'n2')] }), svc), null);
  // Rolled back to version 1: slot 2's version-1 task was stopped by the update to 2, before the rollback.
  const rollback = during('rolling-back', 1);
  const back = (id: string, slot: number, atUs: number) => replacement(id, slot, atUs, { specVersion: 1 });
  const rolled = [
    stopped('o1', 1, 'update', 1_100, { specVersion: 2 }), back('b1', 1, 1_100), task('o3', 3, 'n2', { createdAtUs: 10 }),
    stopped('o2', 2, 'update', 900), back('b2', 2, 1_050),
  ];
  assert.equal(updateAvailabilityProblem(snapshot({ services: [rollback], tasks: rolled, running: [run('o3', 'n2')] }), rollback), null);
});

test('the restart of an updated task that failed counts against the failure ratio, not the parallelism', () => {
  const svc = during();
  const restarted = updateSnapshot(svc, [
    stopped('o2', 2, 'update', 1_100), replacement('r2', 2, 1_100, { observedState: 'failed', updatedAtUs: 1_300 }), replacement('r2b', 2, 1_400, { restartCount: 1 }),
  ]);
  assert.equal(updateAvailabilityProblem(restarted, svc), null);
  // The failed replacement not restarted yet (backoff): nothing of the updater's either.
  const failed = updateSnapshot(svc, [stopped('o2', 2, 'update', 1_100), replacement('r2', 2, 1_100, { observedState: 'failed', updatedAtUs: 1_300 })]);
  assert.equal(updateAvailabilityProblem(failed, svc), null);
  // Start-first: the old task stopped once its replacement ran; the replacement then failed and restarts.
  const startFirst = during();
  const sf = updateSnapshot(startFirst, [
    replacement('r2', 2, 1_050, { observedState: 'failed', updatedAtUs: 1_300 }), stopped('o2', 2, 'update', 1_200), replacement('r2b', 2, 1_400),
  ]);
  assert.equal(updateAvailabilityProblem(sf, startFirst), null);
});

test('slots down for faults do not count: a node lost, a task that crashed beside a dropped replacement', () => {
  const svc = during();
  const lost = updateSnapshot(svc, [task('o2', 2, 'n2', { observedState: 'orphaned', createdAtUs: 10, updatedAtUs: 1_200 }), replacement('r2', 2, 1_200)]);
  assert.equal(updateAvailabilityProblem(lost, svc), null);
  // A rollback dropped slot 2's version-2 replacement beside its running version-1 task, which then stopped running.
  const rollback = during('rolling-back', 1);
  const tasks = [
    stopped('o1', 1, 'update', 1_100, { specVersion: 2 }), replacement('b1', 1, 1_100, { specVersion: 1 }), task('o3', 3, 'n2', { createdAtUs: 10 }),
    task('k2', 2, 'n1', { createdAtUs: 500 }), stopped('u2', 2, 'update', 1_100, { specVersion: 2, createdAtUs: 900 }),
  ];
  assert.equal(updateAvailabilityProblem(snapshot({ services: [rollback], tasks, running: [run('o3', 'n2')] }), rollback), null);
  const crashed = tasks.map((t) => (t.id === 'k2' ? { ...t, observedState: 'failed' as const, updatedAtUs: 1_300 } : t));
  assert.equal(updateAvailabilityProblem(snapshot({ services: [rollback], tasks: crashed, running: [run('o3', 'n2')] }), rollback), null);
});

// Checks on the managers' work during the run: over a small store of plain objects.
function store(services: Service[], nodes: ClusterNode[], tasks: Task[]): StoreReader {
  return {
    node: (id) => nodes.find((n) => n.id === id) ?? null,
    task: (id) => tasks.find((t) => t.id === id) ?? null,
    service: (id) => services.find((s) => s.id === id) ?? null,
    services: () => services,
    tasksOfService: (id) => tasks.filter((t) => t.serviceId === id),
  };
}
const assign = (taskId: string, nodeId: string): StateCommand => ({ type: 'task-assign', assignments: [{ taskId: taskId as TaskId, nodeId: nodeId as NodeId }], atUs: 5_000 });

test('an assignment that took effect on a drained or paused node is reported, naming the task, its slot and the node', () => {
  const assigned = task('t7', 2, 'n2', { observedState: 'assigned' });
  const drained = store([service()], [node('n1'), node('n2', { availability: 'drain' })], [assigned]);
  assert.deepEqual(drainedAssignmentProblem(assign('t7', 'n2'), drained), {
    checker: drainedAssignmentChecker,
    message: 'task t7 (service web (s1), slot 2) was assigned to node n2, which is drained and takes no new tasks',
  });
  const paused = store([service()], [node('n2', { availability: 'pause' })], [assigned]);
  assert.match(drainedAssignmentProblem(assign('t7', 'n2'), paused)?.message ?? '', /assigned to node n2, which is paused/);
});

test('an assignment to an active node is fine, and so is a drain that commits after it (the task is then moved off)', () => {
  const onActive = store([service()], [node('n2')], [task('t7', 2, 'n2', { observedState: 'assigned' })]);
  assert.equal(drainedAssignmentProblem(assign('t7', 'n2'), onActive), null);
  // The drain applies after the assignment: the store it leaves has an assigned task on a drained
  // node, but a drain is not an assignment, and the assignment was checked on the store it left.
  const drainedAfter = store([service()], [node('n2', { availability: 'drain' })], [task('t7', 2, 'n2', { observedState: 'running' })]);
  assert.equal(drainedAssignmentProblem({ type: 'node-update', id: 'n2' as NodeId, version: 1, availability: 'drain', atUs: 6_000 }, drainedAfter), null);
  // A partitioned agent's tasks keep running on the drained node: only reports reach the store.
  assert.equal(drainedAssignmentProblem({ type: 'task-report', taskId: 't7' as TaskId, state: 'running', exitCode: null, message: '', atUs: 7_000 }, drainedAfter), null);
});

// An update to spec version 2 of a 4-replica service, started at 1_000, that rolls back past 1 failure in 4.
const failing = (action: UpdateConfig['failureAction'] = 'rollback', state: 'updating' | 'rolling-back' = 'updating'): Service =>
  service(
    { specVersion: 2, updateStatus: { state, startedAtUs: 1_000, completedAtUs: null, message: '' } },
    { mode: { type: 'replicated', replicas: 4 }, update: { ...update, maxFailureRatio: 0.25, failureAction: action }, rollback: { ...update, maxFailureRatio: 0.25 } },
  );
const newTask = (id: string, slot: number, state: TaskState, over: Partial<Task> = {}): Task => task(id, slot, 'n1', { specVersion: 2, observedState: state, createdAtUs: 2_000, ...over });
const createFor = (slot: number): StateCommand => ({ type: 'task-create', tasks: [{ id: `c${slot}` as TaskId, serviceId: 's1' as ServiceId, slot, nodeId: null, specVersion: 2 }], atUs: 9_000 });

test('a reconcile pass that carries on with an update whose failures exceed its ratio is reported with the failed tasks', () => {
  const svc = failing();
  const s = store([svc], [node('n1')], [newTask('f1', 1, 'failed'), newTask('f2', 2, 'rejected'), newTask('k3', 3, 'running')]);
  const problem = updateFailureActionProblem(s, [createFor(4)]);
  assert.equal(problem?.checker, updateFailureActionChecker);
  assert.equal(problem?.message,
    'service web (s1): 2 of 4 tasks of its update to spec version 2 failed (f1 in slot 1 failed, f2 in slot 2 rejected), above its max failure ratio 0.25, ' +
    'yet a reconcile pass on that store did not roll it back: it proposed 1 new task(s) for slot(s) 4 for the service');
  // The pass that does roll back (or, for a pause action, pauses) is right.
  assert.equal(updateFailureActionProblem(s, [{ type: 'service-rollback', id: svc.id, version: svc.version, message: 'rolled back', atUs: 9_000 }]), null);
  const pausing = failing('pause');
  const paused: StateCommand = { type: 'service-set-update-status', id: svc.id, specVersion: 2, state: 'paused', message: 'paused', atUs: 9_000 };
  const sp = store([pausing], [node('n1')], [newTask('f1', 1, 'failed'), newTask('f2', 2, 'failed')]);
  assert.match(updateFailureActionProblem(sp, [])?.message ?? '', /did not pause it: it proposed no new task for the service/);
  assert.equal(updateFailureActionProblem(sp, [paused]), null);
  // A failing rollback must pause.
  const back = failing('rollback', 'rolling-back');
  assert.match(updateFailureActionProblem(store([back], [node('n1')], [newTask('f1', 1, 'failed'), newTask('f2', 2, 'failed')]), [])?.message ?? '', /tasks of its rollback to spec version 2 failed .* did not pause it/);
});

test('failures within the ratio, before the update, outside the slots, or with failure action continue are no reason to stop', () => {
  const svc = failing();
  // 1 of 4 is the ratio itself, not above it; a completed task is no failure.
  assert.equal(updateFailureActionProblem(store([svc], [node('n1')], [newTask('f1', 1, 'failed'), newTask('d2', 2, 'complete')]), [createFor(3)]), null);
  // Failed tasks of the previous spec version, or created before the update started, or in a slot above the replica count, do not count.
  const notThis = [newTask('f1', 1, 'failed'), newTask('o2', 2, 'failed', { specVersion: 1 }), newTask('e3', 3, 'failed', { createdAtUs: 500 }), newTask('x5', 5, 'failed')];
  assert.equal(updateFailureActionProblem(store([svc], [node('n1')], notThis), [createFor(4)]), null);
  // Failures the store learns after the pass are not the pass's: the same pass on the store it saw is fine.
  assert.equal(updateFailureActionProblem(store([svc], [node('n1')], [newTask('f1', 1, 'failed')]), [createFor(2)]), null);
  const going = failing('continue');
  assert.equal(updateFailureActionProblem(store([going], [node('n1')], [newTask('f1', 1, 'failed'), newTask('f2', 2, 'failed')]), [createFor(3)]), null);
});

test('newOrchestrationChecks gives each run the checks, the in-run ones included', () => {
  const a = newOrchestrationChecks();
  assert.notEqual(a, newOrchestrationChecks());
  // The world hands them a whole store; these read only the StoreReader part of it.
  const drained = store([service()], [node('n2', { availability: 'drain' })], []) as StateView;
  assert.equal(a.appliedCommandProblem(assign('t7', 'n2'), drained)?.checker, drainedAssignmentChecker);
  const failed = store([failing()], [node('n1')], [newTask('f1', 1, 'failed'), newTask('f2', 2, 'failed')]) as StateView;
  assert.equal(a.reconcilePassProblem(failed, [])?.checker, updateFailureActionChecker);
});
