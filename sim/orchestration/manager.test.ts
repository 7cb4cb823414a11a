// Three simulated managers whose Raft state machine is the cluster store, in the hand-built test
// world of ../testing.ts (ticks, deliveries with an optional drop filter, disk syncs, a recording
// observer), plus worker heartbeats fed to the managers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId, type NodeId } from '../../core/raft/index.ts';
import { isTerminal, snapshot, type ServiceId, type StateCommand, type Task } from '../../core/state/index.ts';
import { spec } from '../../core/state/testing.ts';
import type { ShellConfig } from '../raft-shell.ts';
import { baseShellConfig, ShellTestWorld } from '../testing.ts';
import { defaultManagerConfig, ManagerHost, type ProposeOutcome } from './manager.ts';

const heartbeatEveryUs = 500_000;
const baseConfig: ShellConfig = { ...baseShellConfig, keepEntriesAfterSnapshot: 2 };

class World extends ShellTestWorld<ManagerHost, { readonly type: 'heartbeat' }> {
  /** Workers whose heartbeats reach every manager (only the leader keeps them). */
  readonly workers: NodeId[] = [];

  constructor(config: Partial<ShellConfig> = {}, seed = 'managers') {
    super();
    this.addServers(3, 'm', seed, (id, disk, rng, env) => new ManagerHost(id, disk, rng, { ...baseConfig, ...config }, env, { ...defaultManagerConfig, reconcileEveryTicks: 2 }));
    this.startTicks();
    this.queue.schedule(heartbeatEveryUs, { type: 'heartbeat' });
  }

  get managers(): ManagerHost[] {
    return this.hosts;
  }

  protected override dispatchOther(): void {
    for (const worker of this.workers) for (const m of this.managers) m.recordHeartbeat(worker, this.queue.nowUs);
    this.queue.schedule(this.queue.nowUs + heartbeatEveryUs, { type: 'heartbeat' });
  }

  leader(): ManagerHost | undefined {
    return this.managers.find((m) => m.up && m.node.role() === 'leader');
  }

  /** Run until one manager leads and every live manager has applied its commit index. */
  settle(what = 'a settled leader'): ManagerHost {
    this.runUntilTrue(() => {
      const leader = this.leader();
      return leader !== undefined && leader.appliedTo() > 0 && this.managers.every((m) => !m.up || m.appliedTo() === leader.node.commitIndex());
    }, 10_000_000, what);
    return this.leader()!;
  }

  /** Propose through `via` and run until answered. */
  propose(via: ManagerHost, command: StateCommand, onAnswer: (result: ProposeOutcome) => void = () => {}): ProposeOutcome {
    let answer: ProposeOutcome | undefined;
    via.propose(command, (result) => {
      onAnswer(result);
      answer = result;
    });
    this.runUntilTrue(() => answer !== undefined, 5_000_000, `the answer to ${command.type}`);
    return answer!;
  }

  snapshots(): string[] {
    return this.managers.filter((m) => m.up).map((m) => snapshot(m.state));
  }
}

const worker = nodeId('w1');
const registerWorker = (atUs: number): StateCommand => ({
  type: 'node-register', id: worker, name: 'w1', role: 'worker', resources: { cpuMillis: 4000, memoryBytes: 1_000_000 }, labels: {}, address: '10.0.0.9:7000', atUs,
});
const createService = (id: string, replicas: number, atUs: number, constraints: string[] = []): StateCommand => ({
  type: 'service-create',
  id: id as ServiceId,
  spec: spec({ name: id, mode: { type: 'replicated', replicas }, placement: { constraints, preferences: [] } }),
  atUs,
});

function tasksOf(m: ManagerHost, service: string): readonly Task[] {
  return m.state.tasksOfService(service as ServiceId);
}

/** Tasks per slot, live or not: any count above one would be a duplicate the reconciler made. */
function tasksPerSlot(m: ManagerHost, service: string): Map<number | null, number> {
  const counts = new Map<number | null, number>();
  for (const t of tasksOf(m, service)) counts.set(t.slot, (counts.get(t.slot) ?? 0) + 1);
  return counts;
}

test('a proposal through a follower fails with the leader hint; through the leader it is answered once committed on a majority and applied', () => {
  const world = new World();
  const leader = world.settle('a first leader');
  const follower = world.managers.find((m) => m !== leader)!;

  let immediate: ProposeOutcome | undefined;
  follower.propose(registerWorker(world.queue.nowUs), (r) => (immediate = r));
  assert.deepEqual(immediate && !immediate.ok ? { code: immediate.code, leader: immediate.leader } : immediate, { code: 'not-leader', leader: leader.id });

  let atAnswer = { leaderHasIt: false, logged: 0 };
  const registered = world.propose(leader, registerWorker(world.queue.nowUs), () => {
    const index = leader.appliedTo();
    atAnswer = { leaderHasIt: leader.state.node(worker) !== null, logged: world.managers.filter((m) => m.storage.lastIndex() >= index).length };
  });
  assert.deepEqual(registered, { ok: true });
  assert.ok(atAnswer.leaderHasIt, 'answered once applied by the leader');
  assert.ok(atAnswer.logged >= 2, `answered once on a majority's disks (on ${atAnswer.logged})`);
  world.settle();
  assert.ok(world.managers.every((m) => m.state.node(worker) !== null), 'then applied everywhere');

  const again = world.propose(leader, registerWorker(world.queue.nowUs));
  assert.equal(again.ok, false);
  assert.equal(!again.ok && again.code, 'already-exists', 'refused by the local store before proposing');

  assert.deepEqual(world.propose(leader, createService('web', 3, world.queue.nowUs)), { ok: true });
  world.settle();
  const [first, ...rest] = world.snapshots();
  for (const s of rest) assert.equal(s, first, 'every manager holds byte-identical state');
});

test('the leader reconciles: tasks are created once per slot, assigned to a heartbeating worker, and an unschedulable one says why', () => {
  const world = new World();
  world.workers.push(worker);
  const leader = world.settle();
  assert.deepEqual(world.propose(leader, registerWorker(world.queue.nowUs)), { ok: true });
  assert.deepEqual(world.propose(leader, createService('web', 3, world.queue.nowUs)), { ok: true });
  assert.deepEqual(world.propose(leader, createService('pinned', 1, world.queue.nowUs, ['node.labels.zone==nowhere'])), { ok: true });
  world.runFor(8_000_000); // past the heartbeat timeout: the worker stays ready through heartbeats
  world.settle();

  assert.ok(leader.reconcilePasses > 0 && leader.reconcileCommandsProposed > 0);
  assert.equal(leader.pendingProposals(), 0);
  for (const m of world.managers) {
    assert.equal(m.state.node(worker)!.status, 'ready');
    const web = tasksOf(m, 'web');
    assert.deepEqual(web.map((t) => t.slot).sort(), [1, 2, 3]);
    assert.ok(web.every((t) => /^t-[0-9a-f]{12}$/.test(t.id) && t.nodeId === worker && t.observedState === 'assigned'), JSON.stringify(web));
    const [pinned] = tasksOf(m, 'pinned');
    assert.equal(pinned?.observedState, 'pending');
    assert.match(pinned!.message, /no node satisfies constraint node\.labels\.zone==nowhere/);
  }
  const [first, ...rest] = world.snapshots();
  for (const s of rest) assert.equal(s, first);
});

test('a leader whose reconciler proposals cannot commit runs no further pass until they apply', () => {
  const world = new World();
  world.workers.push(worker);
  const leader = world.settle();
  assert.deepEqual(world.propose(leader, registerWorker(world.queue.nowUs)), { ok: true });
  assert.deepEqual(world.propose(leader, createService('web', 3, world.queue.nowUs)), { ok: true });
  world.drop = (m) => m.type === 'app' || m.type === 'app-resp';
  const passes = leader.reconcilePasses;
  world.runFor(2_000_000);
  assert.equal(leader.reconcilePasses, passes + 1, 'one pass, then it waits for its proposals');
  assert.ok(leader.pendingProposals() > 0);
  world.drop = () => false;
  world.runFor(2_000_000);
  world.settle();
  assert.equal(leader.node.role(), 'leader');
  for (const m of world.managers) assert.deepEqual([...tasksPerSlot(m, 'web').entries()].sort(), [[1, 1], [2, 1], [3, 1]]);
});

test('a restarted follower recovers the same store from its disk (snapshot and log), then catches up', () => {
  const world = new World({ snapshotEveryEntries: 4 });
  world.workers.push(worker);
  const leader = world.settle();
  assert.deepEqual(world.propose(leader, registerWorker(world.queue.nowUs)), { ok: true });
  for (let i = 0; i < 4; i++) assert.deepEqual(world.propose(leader, createService(`svc${i}`, 2, world.queue.nowUs)), { ok: true });
  world.runFor(2_000_000);
  world.settle();

  const at = world.managers.findIndex((m) => m !== leader);
  const follower = world.managers[at]!;
  // Leave entries after the follower's last snapshot, so recovery needs the log as well.
  for (let i = 0; i < 4 && follower.storage.snapshot().meta.index === follower.appliedTo(); i++) {
    assert.deepEqual(world.propose(leader, createService(`extra${i}`, 1, world.queue.nowUs)), { ok: true });
    world.settle();
  }
  const before = snapshot(follower.state);
  const applied = follower.appliedTo();
  assert.equal(follower.disk.durableCount, follower.disk.size);
  follower.crash();
  world.drop = (m) => m.to === follower.id || m.from === follower.id;
  world.restart(at);
  const snapIndex = follower.storage.snapshot().meta.index;
  assert.ok(snapIndex > 0 && snapIndex < applied, `recovery needs both the snapshot (at ${snapIndex}) and the log (to ${applied})`);
  // A commit index alone is not written (it rides along with the next write), so the follower may
  // learn it again from the leader: only heartbeats reach it, so the entries come from its own disk.
  assert.ok(follower.storage.lastIndex() >= applied, 'the log tail is on disk');
  world.drop = (m) => m.from === follower.id || (m.to === follower.id && m.type !== 'heartbeat');
  world.runUntilTrue(() => follower.appliedTo() >= applied, 1_000_000, 'replay of the log tail from disk');
  world.drop = (m) => m.to === follower.id || m.from === follower.id;
  assert.equal(snapshot(follower.state), before);

  assert.deepEqual(world.propose(leader, createService('late', 1, world.queue.nowUs)), { ok: true }, 'a majority without the follower');
  world.drop = () => false;
  world.runFor(2_000_000);
  world.settle();
  assert.equal(tasksOf(follower, 'late').length, 1);
  const [first, ...rest] = world.snapshots();
  for (const s of rest) assert.equal(s, first);
});

test('after the leader crashes with its task-create replicated but not known committed, the new leader creates no duplicate', () => {
  const world = new World();
  world.workers.push(worker);
  const old = world.settle();
  assert.deepEqual(world.propose(old, registerWorker(world.queue.nowUs)), { ok: true });
  const proposedBefore = old.reconcileCommandsProposed;
  assert.deepEqual(world.propose(old, createService('web', 3, world.queue.nowUs)), { ok: true });
  world.runUntilTrue(() => old.reconcileCommandsProposed > proposedBefore, 2_000_000, 'the task-create proposal');
  const createIndex = old.node.status().lastIndex;
  world.runUntilTrue(() => world.managers.some((m) => m !== old && m.storage.lastIndex() >= createIndex), 1_000_000, 'the entry on a follower');
  assert.equal(world.managers.filter((m) => m.state.tasks().length > 0).length, 0, 'nobody has applied the tasks yet');
  const oldAt = world.managers.indexOf(old);
  old.crash();
  // The new leader cannot commit for a while: it must not reconcile on a store that may lack what
  // its predecessor committed (its log holds the task-create, but it cannot know it is committed).
  world.drop = (m) => m.type === 'app' || m.type === 'app-resp';
  world.runUntilTrue(() => world.leader() !== undefined, 5_000_000, 'an election');
  world.runFor(1_500_000);
  world.drop = () => false;
  const next = world.settle('a new leader');
  assert.notEqual(next, old);
  world.runFor(4_000_000);
  assert.ok(next.reconcilePasses > 0);
  for (const m of world.managers.filter((x) => x.up)) {
    assert.deepEqual([...tasksPerSlot(m, 'web').entries()].sort(), [[1, 1], [2, 1], [3, 1]]);
    assert.ok(tasksOf(m, 'web').every((t) => t.nodeId === worker && !isTerminal(t.observedState)));
  }

  // The new leader keeps reconciling: scaling up fills only the new slots.
  const web = next.state.service('web' as ServiceId)!;
  const scale: StateCommand = { type: 'service-update', id: web.id, version: web.version, spec: { ...web.spec, mode: { type: 'replicated', replicas: 5 } }, atUs: world.queue.nowUs };
  assert.deepEqual(world.propose(next, scale), { ok: true });
  world.restart(oldAt);
  world.runFor(3_000_000);
  world.settle();
  for (const m of world.managers) assert.deepEqual([...tasksPerSlot(m, 'web').entries()].sort(), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
  const [first, ...rest] = world.snapshots();
  for (const s of rest) assert.equal(s, first);
});

test('the same seed gives the same run: identical stores and observer records', () => {
  const run = () => {
    const world = new World({}, 'replay');
    world.workers.push(worker);
    const leader = world.settle();
    world.propose(leader, registerWorker(world.queue.nowUs));
    world.propose(leader, createService('web', 2, world.queue.nowUs));
    world.runFor(2_000_000);
    return { state: snapshot(leader.state), calls: JSON.stringify(world.observer.calls) };
  };
  assert.deepEqual(run(), run());
});
