// Rebalancing (rebalance.ts): a converged replicated service whose tasks are uneven over its
// eligible nodes moves them back, start-first, one at a time, after the cool-down; and never when
// the counts are within one, onto a node that fails its constraints, for a global service, within
// the cool-down of a node's return or of a move that did not complete, or when it is off.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createService, nid, register, sid } from '../state/testing.ts';
import type { ServiceSpec, Task, TaskId } from '../state/types.ts';
import { defaultReconcilerConfig } from './config.ts';
import { reconcile } from './reconciler.ts';
import { ReconcileWorld } from './testing.ts';

const stepUs = 100_000;
const cooldownUs = defaultReconcilerConfig.rebalanceCooldownUs;

function world(nodes: number, labels: (i: number) => Record<string, string> = () => ({})): ReconcileWorld {
  const w = new ReconcileWorld();
  for (let i = 1; i <= nodes; i++) w.apply(register(`n${i}`, { labels: labels(i), atUs: 1 }));
  return w;
}

/** Running tasks of the service per node, over the nodes given. */
function perNode(w: ReconcileWorld, service: string, nodes: readonly string[]): number[] {
  const running = w.running(service);
  return nodes.map((n) => running.filter((t) => t.nodeId === nid(n)).length);
}

const rebalanced = (w: ReconcileWorld, service: string): Task[] => w.state.tasksOfService(sid(service)).filter((t) => t.shutdownCause === 'rebalance');

/** Steps of pass then work; `check` runs after each pass and after each work. */
function steps(w: ReconcileWorld, count: number, check: () => void = () => {}): void {
  for (let i = 0; i < count; i++) {
    w.pass();
    check();
    w.work();
    check();
    w.nowUs += stepUs;
  }
}

/** A node whose worker stops: marked down past the heartbeat timeout, its tasks moved off it. */
function kill(w: ReconcileWorld, node: string): void {
  w.dead.add(nid(node));
  steps(w, 70);
  assert.equal(w.state.node(nid(node))!.status, 'down');
}

/** The node's worker comes back; returns when the store marked it ready. */
function revive(w: ReconcileWorld, node: string): number {
  w.dead.delete(nid(node));
  steps(w, 1);
  const back = w.state.node(nid(node))!;
  assert.equal(back.status, 'ready');
  return back.updatedAtUs;
}

test('4 tasks on A, B comes back: after the cool-down they move to 2/2, start-first, never fewer than 4 running', () => {
  const w = world(2);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 4 } }));
  steps(w, 5);
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 2]);
  kill(w, 'n2');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [4, 0]);
  const createdBefore = w.state.tasksOfService(sid('web')).length;
  const backAtUs = revive(w, 'n2');
  let fewest = Infinity;
  steps(w, cooldownUs / stepUs + 60, () => (fewest = Math.min(fewest, w.running('web').length)));
  assert.equal(fewest, 4, 'availability never dropped below the replica count');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 2]);
  const moved = w.state.tasksOfService(sid('web')).slice(createdBefore);
  assert.equal(moved.length, 2, 'two moves, one replacement each');
  assert.ok(moved.every((t) => t.createdAtUs >= backAtUs + cooldownUs), 'nothing moved within the cool-down of the node coming back');
  assert.ok(moved.every((t) => t.nodeId === nid('n2') && t.observedState === 'running'));
  const stopped = rebalanced(w, 'web');
  assert.equal(stopped.length, 2);
  assert.ok(stopped.every((t) => t.nodeId === nid('n1') && t.observedState === 'shutdown'));
  // One move at a time: the second replacement was created after the first move's old task stopped.
  assert.ok(moved[1]!.createdAtUs > Math.min(...stopped.map((t) => t.shutdownAtUs!)));
  assert.deepEqual(reconcile(w.state, w.input()), [], 'balanced and settled: nothing more to do');
});

test('a constrained service never moves onto a node that fails its constraints', () => {
  const w = world(3, (i) => ({ zone: i === 3 ? 'b' : 'a' }));
  const placement = { constraints: ['node.labels.zone==a'], preferences: [] };
  w.apply(createService('api', { mode: { type: 'replicated', replicas: 4 }, placement }));
  steps(w, 5);
  kill(w, 'n2');
  assert.deepEqual(perNode(w, 'api', ['n1', 'n2', 'n3']), [4, 0, 0]);
  revive(w, 'n2');
  steps(w, cooldownUs / stepUs + 60);
  assert.deepEqual(perNode(w, 'api', ['n1', 'n2', 'n3']), [2, 2, 0]);
  assert.ok(w.state.tasksOfService(sid('api')).every((t) => t.nodeId !== nid('n3')), 'no task of the service ever went to n3');
  // With n2 drained, n3 is the only other node, and it fails the constraint: 4 stay on n1, and
  // no replacement is even tried.
  const n2 = w.state.node(nid('n2'))!;
  w.apply({ type: 'node-update', id: n2.id, version: n2.version, availability: 'drain', atUs: w.nowUs });
  steps(w, 20);
  const tasks = w.state.tasksOfService(sid('api')).length;
  steps(w, 2 * cooldownUs / stepUs);
  assert.deepEqual(perNode(w, 'api', ['n1', 'n2', 'n3']), [4, 0, 0]);
  assert.equal(w.state.tasksOfService(sid('api')).length, tasks);
});

test('global services never move: a node coming back gets its own task, the others keep theirs', () => {
  const w = world(3);
  w.apply(createService('agent', { mode: { type: 'global' } }));
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 6 } }));
  steps(w, 5);
  const before = new Map(w.running('agent').map((t) => [t.nodeId, t.id]));
  kill(w, 'n3');
  revive(w, 'n3');
  steps(w, cooldownUs / stepUs + 80);
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2', 'n3']), [2, 2, 2], 'the replicated service beside it was rebalanced');
  assert.deepEqual(rebalanced(w, 'agent'), []);
  for (const node of ['n1', 'n2']) assert.equal(w.running('agent').find((t) => t.nodeId === nid(node))?.id, before.get(nid(node)), `${node} kept its task`);
  assert.deepEqual(perNode(w, 'agent', ['n1', 'n2', 'n3']), [1, 1, 1]);
});

test('3 replicas on 2 nodes: 3/0 becomes 2/1 in one move, and 2/1 never flaps', () => {
  const w = world(2);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 3 } }));
  steps(w, 5);
  kill(w, 'n2');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [3, 0]);
  revive(w, 'n2');
  steps(w, cooldownUs / stepUs + 40);
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 1]);
  assert.equal(rebalanced(w, 'web').length, 1);
  const tasks = w.state.tasksOfService(sid('web')).length;
  steps(w, 10 * cooldownUs / stepUs);
  assert.equal(w.state.tasksOfService(sid('web')).length, tasks, 'no task created in the ten cool-downs after');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 1]);
});

test('the cool-down: a node that keeps coming back draws nothing; a move that failed holds the next one back', () => {
  const w = world(2);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 4 } }));
  steps(w, 5);
  kill(w, 'n2');
  const created = w.state.tasksOfService(sid('web')).length;
  // n2 comes back for less than the cool-down each time, then goes silent again.
  // Each time it goes silent, it is marked down only a heartbeat timeout (5 s) later.
  for (let round = 0; round < 3; round++) {
    revive(w, 'n2');
    steps(w, cooldownUs / stepUs - 70);
    kill(w, 'n2');
  }
  assert.equal(w.state.tasksOfService(sid('web')).length, created, 'no replacement while n2 flapped');
  revive(w, 'n2');
  // The first move's replacement fails as it starts: the next move waits a whole cool-down.
  let failedAtUs = -1;
  for (let i = 0; i < cooldownUs / stepUs + 20 && failedAtUs < 0; i++) {
    w.pass();
    const replacement = w.live('web').find((t) => t.nodeId === nid('n2') && t.observedState === 'assigned');
    if (replacement !== undefined) {
      w.apply({ type: 'task-report', taskId: replacement.id, state: 'failed', exitCode: 1, message: 'exit 1', atUs: w.nowUs });
      failedAtUs = w.nowUs;
    }
    w.work();
    w.nowUs += stepUs;
  }
  assert.ok(failedAtUs > 0, 'a move started');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [4, 0]);
  const afterFailure = w.state.tasksOfService(sid('web')).length;
  steps(w, cooldownUs / stepUs - 10);
  assert.equal(w.state.tasksOfService(sid('web')).length, afterFailure, 'no move within the cool-down of the failed one');
  steps(w, 80);
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 2]);
  assert.ok(w.state.tasksOfService(sid('web')).slice(afterFailure).every((t) => t.createdAtUs >= failedAtUs + cooldownUs));
});

test('a replacement placed where it would not narrow the spread is withdrawn, and its slot keeps running', () => {
  const w = world(2);
  w.apply(createService('web', { mode: { type: 'replicated', replicas: 4 } }));
  steps(w, 5);
  kill(w, 'n2');
  revive(w, 'n2');
  // A replacement for slot 4 that landed on n1, the fullest node (as if n2 had filled up between passes).
  const old = w.running('web').find((t) => t.slot === 4)!;
  const stray = 'stray' as TaskId;
  w.apply({ type: 'task-create', tasks: [{ id: stray, serviceId: sid('web'), slot: 4, nodeId: null, specVersion: 1 }], atUs: w.nowUs });
  w.apply({ type: 'task-assign', assignments: [{ taskId: stray, nodeId: nid('n1') }], atUs: w.nowUs });
  const commands = w.pass();
  assert.deepEqual(commands.flatMap((c) => (c.type === 'task-set-desired' ? c.changes : [])), [{ taskId: stray, desiredState: 'shutdown', cause: 'rebalance' }]);
  assert.ok(!commands.some((c) => c.type === 'task-create'), 'no new move in the pass that withdrew one');
  assert.equal(w.state.task(old.id)!.desiredState, 'running');
  steps(w, cooldownUs / stepUs + 60, () => assert.ok(w.running('web').length >= 4));
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), [2, 2]);
});

test('spread preferences: moves even out the nodes, and the zones with them', () => {
  const w = world(4, (i) => ({ zone: i <= 2 ? 'a' : 'b' }));
  const spec: Partial<ServiceSpec> = { mode: { type: 'replicated', replicas: 4 }, placement: { constraints: [], preferences: [{ spread: 'node.labels.zone' }] } };
  w.apply(createService('web', spec));
  steps(w, 5);
  w.dead.add(nid('n3'));
  kill(w, 'n4');
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2', 'n3', 'n4']), [2, 2, 0, 0]);
  w.dead.delete(nid('n3'));
  revive(w, 'n4');
  steps(w, cooldownUs / stepUs + 80);
  assert.deepEqual(perNode(w, 'web', ['n1', 'n2', 'n3', 'n4']), [1, 1, 1, 1]);
  assert.equal(rebalanced(w, 'web').length, 2);
});

test('rebalanceParallelism 2 moves two slots at once; rebalance off moves nothing', () => {
  for (const [config, expected] of [[{ rebalanceParallelism: 2 }, [3, 3]], [{ rebalance: false }, [6, 0]]] as const) {
    const w = world(2);
    w.config = { ...defaultReconcilerConfig, ...config };
    w.apply(createService('web', { mode: { type: 'replicated', replicas: 6 } }));
    steps(w, 5);
    kill(w, 'n2');
    revive(w, 'n2');
    let inFlight = 0;
    steps(w, cooldownUs / stepUs + 60, () => (inFlight = Math.max(inFlight, w.live('web').length - 6)));
    assert.deepEqual(perNode(w, 'web', ['n1', 'n2']), expected, JSON.stringify(config));
    assert.equal(inFlight, 'rebalance' in config ? 0 : 2, `${JSON.stringify(config)}: most replacements in flight at once`);
  }
});

test('the rebalancing config is validated: parallelism of at least 1, a cool-down of at least 0, on or off', () => {
  assert.throws(() => reconcile(world(1).state, { ...world(1).input(), config: { ...defaultReconcilerConfig, rebalanceParallelism: 0 } }), /rebalanceParallelism must be a positive integer, got 0/);
  assert.throws(() => reconcile(world(1).state, { ...world(1).input(), config: { ...defaultReconcilerConfig, rebalanceCooldownUs: -1 } }), /rebalanceCooldownUs must be an integer of at least 0, got -1/);
  assert.throws(() => reconcile(world(1).state, { ...world(1).input(), config: { ...defaultReconcilerConfig, rebalance: 'yes' as unknown as boolean } }), /rebalance must be true or false, got yes/);
  assert.deepEqual(reconcile(world(1).state, { ...world(1).input(), config: { ...defaultReconcilerConfig, rebalanceCooldownUs: 0 } }), []);
});
