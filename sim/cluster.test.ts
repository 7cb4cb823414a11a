// Whole-cluster runs without the chaos checkers: a minimal observer that records the leaders of each
// term and the entries each node applied, checking election safety and state-machine safety as it goes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noBugs, type Entry, type NodeId } from '../core/raft/index.ts';
import { Cluster } from './cluster.ts';
import { drawPlan, type FaultPlan, type Tuning } from './nemesis.ts';
import type { SimObserver } from './protocol.ts';
import { Rng } from './rng.ts';

class RecordingObserver implements SimObserver {
  readonly leadersByTerm = new Map<number, Set<NodeId>>();
  /** Per node: index -> the entry it applied there. */
  readonly applied = new Map<NodeId, Map<number, Entry>>();
  /** The entry applied at each index by any node (state-machine safety is checked against it). */
  private readonly appliedAt = new Map<number, Entry>();
  restarts = 0;

  onSoftState(node: NodeId, role: string, term: number): void {
    if (role !== 'leader') return;
    const leaders = this.leadersByTerm.get(term) ?? new Set<NodeId>();
    leaders.add(node);
    this.leadersByTerm.set(term, leaders);
    assert.equal(leaders.size, 1, `two leaders in term ${term}: ${[...leaders].join(', ')}`);
  }
  onApply(node: NodeId, entry: Entry): void {
    const mine = this.applied.get(node) ?? new Map<number, Entry>();
    this.applied.set(node, mine);
    mine.set(entry.index, entry);
    const first = this.appliedAt.get(entry.index);
    if (first === undefined) this.appliedAt.set(entry.index, entry);
    else assert.deepEqual(entry, first, `${node} applied a different entry at ${entry.index}`);
  }
  onSnapshotApplied(): void {}
  onHardStateSynced(): void {}
  onRestart(): void {
    this.restarts++;
  }
  onWriteAcked(): void {}
  onSend(): void {}
  onLeaderCommit(): void {}
}

const calmTuning: Tuning = {
  adminEveryUs: 0,
  maxMsgBytes: 65_536,
  maxInflightMsgs: 64,
  preVote: true,
  checkQuorum: true,
  snapshotEveryEntries: 100,
  snapshotChunkBytes: 65_536,
};

function calmPlan(seed: string, nodes: number, durationUs: number, tuning: Partial<Tuning> = {}): FaultPlan {
  const plan = drawPlan(new Rng(seed).child('nemesis'), nodes, [], durationUs);
  return { ...plan, tuning: { ...calmTuning, ...tuning } };
}

function runCluster(seed: string, durationUs: number, tuning: Partial<Tuning> = {}): { cluster: Cluster; observer: RecordingObserver } {
  const observer = new RecordingObserver();
  const cluster = new Cluster({
    seed,
    nodes: 3,
    durationUs,
    opsPerSecond: 100,
    plan: calmPlan(seed, 3, durationUs, tuning),
    raftBugs: noBugs,
    ackBeforeSync: false,
    pipelineEarlyReply: false,
  readBeforeApply: false,
    observer,
    trace: null,
  });
  cluster.run();
  return { cluster, observer };
}

function assertConverged(cluster: Cluster, observer: RecordingObserver): void {
  const leader = cluster.hosts[cluster.leaderIndex()];
  assert.ok(leader, 'a leader after the liveness phase');
  const commit = leader.node.status().commit;
  for (const h of cluster.hosts) {
    assert.ok(h.up);
    assert.equal(h.appliedTo(), commit, `${h.id} applied everything committed`);
    assert.equal(h.kv.snapshot(), leader.kv.snapshot(), `${h.id} holds the leader's state`);
  }
  assert.equal(cluster.workload.outstanding(), 0);
  assert.ok(cluster.workload.history.some((e) => e.type === 'ok'), 'clients got answers');
  assert.ok(observer.leadersByTerm.size >= 1);
}

test('a calm three-node run is deterministic per seed and converges in the liveness phase', () => {
  const durationUs = 3_000_000;
  const a = runCluster('calm-1', durationUs);
  const b = runCluster('calm-1', durationUs);
  const c = runCluster('calm-2', durationUs);
  assert.equal(a.cluster.hash.hex(), b.cluster.hash.hex(), 'same seed, same trace');
  assert.equal(a.cluster.events, b.cluster.events);
  assert.deepEqual(a.cluster.workload.history, b.cluster.workload.history);
  assert.notEqual(a.cluster.hash.hex(), c.cluster.hash.hex(), 'different seed, different trace');
  for (const run of [a, b, c]) {
    assertConverged(run.cluster, run.observer);
    assert.ok(run.cluster.healedAtUs === durationUs);
    const fired = run.cluster.faultsFired();
    assert.deepEqual(fired, { network: 0, disk: 0, process: 0, clock: 0 }, 'a calm plan fires no faults');
  }
});

test('when the plan enables it, the operator really transfers leadership and removes and re-adds members', () => {
  const { cluster, observer } = runCluster('admin-1', 20_000_000, { adminEveryUs: 1_000_000 });
  const detail = cluster.faultDetail();
  assert.ok(detail['transfers']! > 0, `transfers: ${detail['transfers']}`);
  assert.ok(detail['removals']! > 0, `removals: ${detail['removals']}`);
  assert.ok(detail['learnersAdded']! > 0, `learnersAdded: ${detail['learnersAdded']}`);
  assert.ok(detail['promotions']! > 0, `promotions: ${detail['promotions']}`);
  assert.ok(observer.leadersByTerm.size > 1, 'transfers made new leaders');
  const confEntries = [...observer.applied.values()].flatMap((m) => [...m.values()]).filter((e) => e.type === 'conf');
  assert.ok(confEntries.length > 0, 'membership changes were committed and applied');
  // The liveness phase restored full membership before it returned.
  assertConverged(cluster, observer);
  const leader = cluster.hosts[cluster.leaderIndex()]!;
  assert.deepEqual([...leader.node.status().conf.voters].sort(), [...cluster.ids].sort());
});
