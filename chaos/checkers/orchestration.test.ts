import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNode, NodeId, Service, ServiceId, ServiceSpec, Task, TaskId, TaskState, UpdateConfig, Volume, VolumeId } from '../../core/state/types.ts';
import { convergenceProblems, updateAvailabilityProblem, type OrchestrationSnapshot, type RunningContainer } from './orchestration.ts';

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
  message: '', exitCode: null, restartCount: 0, createdAtUs: created++, updatedAtUs: 0, ...over,
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

test('a stop-first update with parallelism 1 may have one slot down, not two', () => {
  const updating = service({ specVersion: 2, updateStatus: { state: 'updating', startedAtUs: 0, completedAtUs: null, message: '' } }, { mode: { type: 'replicated', replicas: 3 } });
  const old = (id: string, slot: number) => task(id, slot, 'n1', { desiredState: 'shutdown', observedState: 'shutdown' });
  const one = snapshot({ services: [updating], tasks: [old('o1', 1), task('n1t', 1, 'n1', { specVersion: 2, observedState: 'starting' }), task('o2', 2, 'n1'), task('o3', 3, 'n2')], running: [run('o2', 'n1'), run('o3', 'n2')] });
  assert.equal(updateAvailabilityProblem(one, updating), null);
  const two = snapshot({ services: [updating], tasks: [old('o1', 1), old('o2', 2), task('o3', 3, 'n2')], running: [run('o3', 'n2')] });
  assert.match(updateAvailabilityProblem(two, updating) ?? '', /2 slots down at once; its parallelism allows 1/);
});

test('tasks lost to a failed node or a crashed replacement do not count against the updater', () => {
  const updating = service({ specVersion: 2, updateStatus: { state: 'updating', startedAtUs: 0, completedAtUs: null, message: '' } }, { mode: { type: 'replicated', replicas: 3 } });
  const s = snapshot({
    services: [updating],
    nodes: [node('n1'), node('n2', { status: 'down' })],
    tasks: [
      task('o1', 1, 'n1', { desiredState: 'shutdown', observedState: 'shutdown' }),
      task('r1', 1, 'n1', { specVersion: 2, observedState: 'failed' }),
      task('o2', 2, 'n2', { desiredState: 'shutdown', observedState: 'orphaned' }),
      task('o3', 3, 'n1', { desiredState: 'shutdown', observedState: 'shutdown' }),
    ],
    running: [],
  });
  assert.equal(updateAvailabilityProblem(s, updating), null);
});
