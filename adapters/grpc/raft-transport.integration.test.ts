// Three real Raft cores (core/raft RaftNode over MemoryStorage) talking through RaftTransports on
// loopback, each driven by a 10 ms tick and a Ready loop (persist to MemoryStorage, send, apply,
// advance). They elect a leader and commit proposals on all three; then the leader's transport is
// closed and its loop stopped (its death), and the other two elect a new leader and keep committing.
// The test also measures messages/s and proposals committed/s through the loop (no fsync) and
// reports them as test diagnostics.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, nodeId, RaftNode, type NodeId } from '../../core/raft/index.ts';
import type { RaftTransport } from './raft-transport.ts';
import { startMesh, waitFor } from './testing.ts';

const TICK_MS = 10;

/** One manager minus the state machine: a core, its storage, its transport and the two loops. */
class LoopNode {
  readonly storage = new MemoryStorage();
  readonly node: RaftNode;
  readonly applied: string[] = [];
  private ticker: NodeJS.Timeout | null = null;
  private pumpScheduled = false;
  private alive = true;
  private readonly appliedWaiters = new Map<string, () => void>();

  constructor(
    readonly id: NodeId,
    voters: readonly NodeId[],
    readonly transport: RaftTransport,
  ) {
    this.storage.bootstrap({ voters: [...voters].sort(), learners: [] });
    this.node = new RaftNode({ id, random: Math.random }, this.storage);
    transport.onMessage((message) => {
      if (!this.alive) return;
      this.node.step(message);
      this.schedulePump();
    });
  }

  start(): void {
    this.ticker = setInterval(() => {
      this.node.tick();
      this.pump();
    }, TICK_MS);
  }

  /** The process dies: no more ticks, steps or sends. */
  async kill(): Promise<void> {
    this.alive = false;
    if (this.ticker) clearInterval(this.ticker);
    await this.transport.close();
  }

  /** Resolves when this node has applied `data` (proposals carry unique data). */
  appliedOnce(data: string): Promise<void> {
    return new Promise((resolve) => this.appliedWaiters.set(data, resolve));
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** The Ready loop, in the order the core requires: persist, send, apply, advance. */
  pump(): void {
    while (this.alive && this.node.hasReady()) {
      const ready = this.node.ready();
      if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
      this.storage.append(ready.entries);
      if (ready.hardState) this.storage.setHardState(ready.hardState);
      this.transport.send(ready.messages);
      for (const entry of ready.committed) {
        if (entry.type === 'conf') this.node.applyConfEntry(entry);
        else if (entry.data !== '') {
          this.applied.push(entry.data);
          const waiter = this.appliedWaiters.get(entry.data);
          if (waiter) {
            this.appliedWaiters.delete(entry.data);
            waiter();
          }
        }
      }
      this.node.advance(ready);
    }
  }
}

async function cluster(t: TestContext): Promise<LoopNode[]> {
  const ids = ['m1', 'm2', 'm3'].map(nodeId);
  const mesh = await startMesh(ids);
  const nodes = ids.map((id) => new LoopNode(id, ids, mesh.get(id)!));
  t.after(() => Promise.all(nodes.map((n) => n.kill())));
  for (const n of nodes) n.start();
  return nodes;
}

/** The leader all live nodes agree on, once they do. */
async function agreedLeader(nodes: readonly LoopNode[], except: NodeId | null = null): Promise<LoopNode> {
  let leader: LoopNode | undefined;
  await waitFor('an agreed leader', () => {
    const leaders = nodes.filter((n) => n.node.role() === 'leader' && n.id !== except);
    if (leaders.length !== 1) return false;
    leader = leaders[0]!;
    return nodes.every((n) => n.node.status().leader === leader!.id);
  }, 5000);
  return leader!;
}

function propose(leader: LoopNode, data: string): void {
  const result = leader.node.propose(data);
  assert.ok(result.ok, `propose ${data} on ${leader.id}: ${result.ok ? '' : result.message}`);
  leader.pump();
}

const sentMessages = (nodes: readonly LoopNode[]): number =>
  nodes.reduce((sum, n) => sum + Object.values(n.transport.stats().outbound).reduce((s, p) => s + p.sentMessages, 0), 0);

test('three RaftNodes over gRPC elect a leader, commit 100 proposals everywhere, and survive the leader dying', async (t) => {
  const nodes = await cluster(t);
  const leader = await agreedLeader(nodes);
  const first = Array.from({ length: 100 }, (_, i) => `put k${i}=v${i}`);
  for (const data of first) propose(leader, data);
  await waitFor('100 proposals applied on all three', () => nodes.every((n) => n.applied.length >= 100), 5000);
  for (const n of nodes) assert.deepStrictEqual(n.applied, first, `log applied on ${n.id}`);

  await leader.kill();
  const survivors = nodes.filter((n) => n !== leader);
  const successor = await agreedLeader(survivors, leader.id);
  assert.notEqual(successor.id, leader.id);
  assert.ok(successor.node.term() > leader.node.term(), 'the new leader holds a later term');
  const second = Array.from({ length: 50 }, (_, i) => `put after${i}=x`);
  for (const data of second) propose(successor, data);
  await waitFor('50 more applied on both survivors', () => survivors.every((n) => n.applied.length >= 150), 5000);
  for (const n of survivors) assert.deepStrictEqual(n.applied, [...first, ...second], `log applied on ${n.id}`);
  // The survivors keep trying to reach the dead node, with backoff.
  const toDead = successor.transport.stats().outbound[leader.id]!;
  assert.notEqual(toDead.state, 'connected');
  assert.ok(toDead.reconnects >= 1);
});

test('throughput through the loop: messages/s and proposals committed/s (diagnostics, no fsync)', async (t) => {
  const nodes = await cluster(t);
  const leader = await agreedLeader(nodes);
  const followers = nodes.filter((n) => n !== leader);

  // Closed loop: 64 clients, each proposing its next command once the previous one is applied on
  // the leader, for a fixed time. Each proposal costs a round of append / append-response.
  const durationMs = 1500;
  const messagesBefore = sentMessages(nodes);
  const startedAt = performance.now();
  let committed = 0;
  const client = async (c: number): Promise<void> => {
    for (let i = 0; performance.now() - startedAt < durationMs; i++) {
      const data = `client${c}-${i}`;
      const applied = leader.appliedOnce(data);
      propose(leader, data);
      await applied;
      committed++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, (_, c) => client(c)));
  const elapsedS = (performance.now() - startedAt) / 1000;
  const messagesPerS = (sentMessages(nodes) - messagesBefore) / elapsedS;
  const committedPerS = committed / elapsedS;
  await waitFor('followers caught up', () => followers.every((n) => n.applied.length === leader.applied.length), 5000);
  for (const n of followers) assert.deepStrictEqual(n.applied, leader.applied);

  // Open loop: a burst of 4000 proposals at once, within the core's 4096 uncommitted (it batches them into few appends).
  const burst = 4000;
  const burstStart = performance.now();
  const base = leader.applied.length;
  for (let i = 0; i < burst; i++) propose(leader, `burst-${i}`);
  await waitFor('burst applied on all three', () => nodes.every((n) => n.applied.length === base + burst), 8000);
  const burstPerS = burst / ((performance.now() - burstStart) / 1000);

  t.diagnostic(`closed loop, 64 clients: ${committedPerS.toFixed(0)} proposals committed/s, ${messagesPerS.toFixed(0)} raft messages/s sent over gRPC`);
  t.diagnostic(`burst of ${burst}: ${burstPerS.toFixed(0)} proposals committed/s on all three`);
  assert.ok(committed > 100, `only ${committed} proposals committed in ${durationMs} ms`);
  for (const n of nodes) assert.equal(Object.values(n.transport.stats().outbound).reduce((s, p) => s + p.droppedMessages, 0), 0);
});
