// The worker side of the protocol in a hand-driven world: assignments built from a store, and one
// simulated worker whose heartbeats, runtime outcomes and wake-ups the test delivers itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeEvent } from '../../core/ports.ts';
import { ClusterState } from '../../core/state/index.ts';
import { applyAll, assign, createService, createTasks, nid, report, sid, spec } from '../../core/state/testing.ts';
import type { NodeId, TaskId } from '../../core/state/types.ts';
import { Rng } from '../rng.ts';
import { calmRuntime, type RuntimeTicket } from '../runtime.ts';
import { assignmentsFor, type ManagerMessage, type WorkerHeartbeat } from '../../core/manager/worker-protocol.ts';
import { defaultWorkerConfig, SimWorker, type RuntimeOrigin } from './worker.ts';

const w1 = nid('w1');
const registerW1 = { type: 'node-register' as const, id: w1, name: 'w1', role: 'worker' as const, resources: { cpuMillis: 4000, memoryBytes: 1 << 30 }, labels: {}, address: 'w1:1', atUs: 1 };

function store(): ClusterState {
  return applyAll(new ClusterState(), [
    registerW1,
    createService('web', { mode: { type: 'replicated', replicas: 4 } }),
    createTasks('web', [{ id: 'placed' }, { id: 'pending' }, { id: 'done' }, { id: 'failed' }]),
    assign([['placed', 'w1'], ['done', 'w1'], ['failed', 'w1']]),
    report('done', 'shutdown', 6),
    report('failed', 'failed', 7, 1),
  ]);
}

test('assignments name the placed tasks of the node that are wanted or still live, with their own spec version', () => {
  const state = store();
  // `done` is terminal but still wanted running in this store: the agent must hear it ended.
  assert.deepEqual(assignmentsFor(state, w1, new WeakMap()).map((a) => a.task.id), ['done', 'failed', 'placed']);
  applyAll(state, [{ type: 'task-set-desired', changes: [{ taskId: 'done' as TaskId, desiredState: 'shutdown', cause: 'scale-down' }], atUs: 8 }]);
  assert.deepEqual(assignmentsFor(state, w1, new WeakMap()).map((a) => a.task.id), ['failed', 'placed'], 'terminal and no longer wanted: left out');

  const web = state.service(sid('web'))!;
  applyAll(state, [{ type: 'service-update', id: web.id, version: web.version, spec: spec({ name: 'web', image: 'nginx:2', mode: { type: 'replicated', replicas: 4 } }), atUs: 9 }]);
  const placed = assignmentsFor(state, w1, new WeakMap()).find((a) => a.task.id === 'placed')!;
  assert.equal(placed.container.image, 'nginx:1.27', 'a task of the previous spec runs the previous image');

  applyAll(state, [{ type: 'service-remove', id: web.id, atUs: 10 }]);
  const afterRemove = assignmentsFor(state, w1, new WeakMap());
  assert.deepEqual(afterRemove.map((a) => [a.task.id, a.task.desiredState]), [['placed', 'shutdown']], 'a removed service\'s live task is still named, to be stopped');
});

interface Harness {
  worker: SimWorker;
  sent: { manager: number; message: WorkerHeartbeat }[];
  outcomes: { atUs: number; event: RuntimeEvent; ticket: RuntimeTicket; origin: RuntimeOrigin }[];
  clock: { nowUs: number };
}

function harness(): Harness {
  const h: Harness = { sent: [], outcomes: [], clock: { nowUs: 0 }, worker: null as unknown as SimWorker };
  h.worker = new SimWorker(w1, { name: 'w1', resources: registerW1.resources, labels: {}, address: 'w1:1' }, 3, new Rng('worker-test'), calmRuntime, defaultWorkerConfig, {
    nowUs: () => h.clock.nowUs,
    send: (_w, manager, message) => h.sent.push({ manager, message }),
    scheduleRuntime: (_w, atUs, event, ticket, origin) => h.outcomes.push({ atUs, event, ticket, origin }),
    scheduleWake: () => {},
  });
  return h;
}

/** Deliver every runtime outcome due by `untilUs`, in time order, as the world would. */
function runRuntime(h: Harness, untilUs: number): void {
  for (;;) {
    h.outcomes.sort((a, b) => a.atUs - b.atUs);
    const next = h.outcomes[0];
    if (next === undefined || next.atUs > untilUs) break;
    h.outcomes.shift();
    h.clock.nowUs = next.atUs;
    if (h.worker.runtime.accept(next.event, next.ticket)) h.worker.onRuntimeEvent(next.event, next.origin);
  }
  h.clock.nowUs = untilUs;
}

const managerIndex = (id: NodeId) => Number(id.slice(1)) - 1;
const view = (h: Harness, term: number, state: ClusterState, seq = h.worker.counts.heartbeats): ManagerMessage => ({
  type: 'assignments', from: nid('m1'), leader: nid('m1'), term, incarnation: h.worker.epoch, seq, assignments: assignmentsFor(state, w1, new WeakMap()),
});

test('a worker keeps each report until a view of the store shows it, and never goes back to an older view', () => {
  const h = harness();
  const state = applyAll(new ClusterState(), [registerW1, createService('web', { mode: { type: 'replicated', replicas: 1 } }), createTasks('web', [{ id: 't1' }]), assign([['t1', 'w1']])]);
  h.worker.heartbeat();
  h.worker.receive(view(h, 1, state), managerIndex);
  runRuntime(h, 1_000_000);
  h.worker.heartbeat();
  const first = h.sent.at(-1)!.message;
  assert.deepEqual(first.reports.map((r) => [r.taskId, r.state]), [['t1', 'running']], 'the latest news per task');

  // That heartbeat was lost: the next one carries the report again.
  h.worker.heartbeat();
  assert.deepEqual(h.sent.at(-1)!.message.reports.map((r) => r.state), ['running']);
  assert.equal(h.sent.at(-1)!.manager, (h.sent.at(-2)!.manager + 1) % 3, 'an unanswered heartbeat sends the next one to another manager');

  // A view that does not show it yet keeps it; one that does lets it go.
  h.worker.receive(view(h, 1, state), managerIndex);
  assert.equal(h.worker.outboxSize(), 1);
  applyAll(state, [report('t1', 'running', 2)]);
  h.worker.heartbeat();
  h.worker.receive(view(h, 1, state), managerIndex);
  assert.equal(h.worker.outboxSize(), 0);

  // An older answer (earlier heartbeat, or an earlier term) arriving late is ignored.
  const accepted = h.worker.counts.viewsAccepted;
  h.worker.receive(view(h, 1, state, 1), managerIndex);
  h.worker.receive(view(h, 0, new ClusterState()), managerIndex);
  assert.equal(h.worker.counts.viewsAccepted, accepted);
  assert.equal(h.worker.counts.viewsStale, 2);
  assert.equal(h.worker.agent.status().tasks[0]?.phase, 'running', 'the older views did not stop the task');
});

test('a worker follows a redirect at once, and tells its agent when it has been cut off too long', () => {
  const h = harness();
  h.worker.heartbeat();
  const asked = h.sent.at(-1)!;
  h.worker.receive({ type: 'redirect', from: nid(`m${asked.manager + 1}`), leader: nid('m3'), incarnation: 0, seq: asked.message.seq }, managerIndex);
  assert.equal(h.sent.length, 2);
  assert.equal(h.sent.at(-1)!.manager, 2, 'straight to the leader named');
  // A second redirect for the same period waits for the next heartbeat.
  h.worker.receive({ type: 'redirect', from: nid('m3'), leader: nid('m2'), incarnation: 0, seq: h.sent.at(-1)!.message.seq }, managerIndex);
  assert.equal(h.sent.length, 2);

  assert.equal(h.worker.agent.status().connected, true);
  h.clock.nowUs = defaultWorkerConfig.disconnectAfterUs + 1;
  h.worker.heartbeat();
  assert.equal(h.worker.agent.status().connected, false);
  assert.equal(h.worker.counts.disconnects, 1);
  h.worker.receive(view(h, 1, applyAll(new ClusterState(), [registerW1])), managerIndex);
  assert.equal(h.worker.agent.status().connected, true, 'a view is contact again');
});

test('after a machine crash the restarted agent reports the tasks it ran as lost', () => {
  const h = harness();
  const state = applyAll(new ClusterState(), [registerW1, createService('web', { mode: { type: 'replicated', replicas: 1 } }), createTasks('web', [{ id: 't1' }]), assign([['t1', 'w1']])]);
  h.worker.heartbeat();
  h.worker.receive(view(h, 1, state), managerIndex);
  runRuntime(h, 1_000_000);
  applyAll(state, [report('t1', 'running', 2)]);
  h.worker.crashMachine();
  h.worker.restart();
  assert.deepEqual(h.worker.runtime.list(), []);
  h.worker.heartbeat();
  h.worker.receive(view(h, 1, state), managerIndex);
  h.worker.heartbeat();
  const reports = h.sent.at(-1)!.message.reports;
  assert.deepEqual(reports.map((r) => [r.taskId, r.state, r.message]), [['t1', 'failed', 'container lost']]);
});
