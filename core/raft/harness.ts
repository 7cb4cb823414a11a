// A synchronous, in-memory cluster of Raft nodes for tests, golden interaction scenarios and the
// core-only benchmark: each node's Ready is persisted to a MemoryStorage, its messages queued, and
// its committed entries recorded. Faults are explicit: isolate a node, drop messages, crash and
// restart a node from what it persisted. Deterministic: ids are iterated in sorted order.

import type { RaftOptions } from './config.ts';
import { RaftNode, type Ready } from './node.ts';
import { MemoryStorage } from './storage.ts';
import type { ConfChange, Entry, Message, NodeId, ReadState } from './types.ts';
import { nodeId } from './types.ts';

export interface HarnessNode {
  readonly id: NodeId;
  node: RaftNode;
  readonly storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  readsRejected: string[];
  /** The state machine of the harness: the data of applied normal entries, in order. */
  state: string;
}

/** A deterministic generator for tests (mulberry32), so core tests need no simulator. */
export function testRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  queue: Message[] = [];
  private readonly isolated = new Set<NodeId>();
  /** Messages matching this are dropped instead of queued. */
  dropIf: ((m: Message) => boolean) | null = null;

  constructor(ids: readonly string[], private readonly options: Partial<RaftOptions> = {}, private readonly seed = 1) {
    const voters = ids.map(nodeId).sort();
    for (const id of voters) this.add(id, voters);
  }

  /** Add a node; with `voters` empty it starts knowing no configuration (a joining node). */
  add(id: NodeId, voters: readonly NodeId[]): HarnessNode {
    const storage = new MemoryStorage();
    if (voters.length > 0) storage.bootstrap({ voters: [...voters], learners: [] });
    const h: HarnessNode = { id, node: this.makeNode(id, storage, 0), storage, applied: [], readStates: [], readsRejected: [], state: '' };
    this.nodes.set(id, h);
    return h;
  }

  private makeNode(id: NodeId, storage: MemoryStorage, applied: number): RaftNode {
    return new RaftNode({ ...this.options, id, random: testRandom(this.seed * 1000 + id.charCodeAt(id.length - 1)), applied }, storage);
  }

  get(id: string): HarnessNode {
    const h = this.nodes.get(nodeId(id));
    if (!h) throw new Error(`no node ${id}`);
    return h;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()].sort();
  }

  isolate(id: string): void {
    this.isolated.add(nodeId(id));
  }

  heal(): void {
    this.isolated.clear();
  }

  /** Crash and restart: the node comes back from exactly what its storage holds. */
  restart(id: string): void {
    const h = this.get(id);
    this.queue = this.queue.filter((m) => m.to !== h.id);
    const snap = h.storage.snapshot();
    h.applied = h.applied.filter((e) => e.index <= snap.meta.index);
    h.state = snap.data;
    h.node = this.makeNode(h.id, h.storage, snap.meta.index);
  }

  /** Drain every node's Ready: persist, queue messages, apply. */
  processReady(id: NodeId): boolean {
    const h = this.nodes.get(id)!;
    if (!h.node.hasReady()) return false;
    const rd: Ready = h.node.ready();
    if (rd.snapshot) h.storage.applySnapshot(rd.snapshot);
    h.storage.append(rd.entries);
    if (rd.hardState) h.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      if (this.isolated.has(m.from) || this.isolated.has(m.to)) continue;
      if (this.dropIf && this.dropIf(m)) continue;
      this.queue.push(m);
    }
    if (rd.snapshot) {
      h.state = rd.snapshot.data;
      h.applied = h.applied.filter((e) => e.index <= rd.snapshot!.meta.index);
    }
    for (const e of rd.committed) {
      h.applied.push(e);
      if (e.type === 'conf') h.node.applyConfEntry(e);
      else if (e.data !== '') h.state += (h.state ? ',' : '') + e.data;
    }
    h.readStates.push(...rd.readStates);
    h.readsRejected.push(...rd.readsRejected);
    h.node.advance(rd);
    return true;
  }

  /** Deliver messages and process Readies until nothing moves (bounded). */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.ids()) while (this.processReady(id)) moved = true;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        const to = this.nodes.get(m.to);
        if (!to || this.isolated.has(m.to)) continue;
        to.node.step(m);
        moved = true;
      }
      if (!moved) return;
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const id of this.ids()) this.get(id).node.tick();
  }

  /** Tick until some node is leader (stabilizing between ticks); returns it. */
  electLeader(maxTicks = 200): HarnessNode {
    for (let t = 0; t < maxTicks; t++) {
      this.stabilize();
      const leader = this.leader();
      if (leader) return leader;
      this.tickAll();
    }
    throw new Error(`no leader after ${maxTicks} ticks`);
  }

  leader(): HarnessNode | undefined {
    let best: HarnessNode | undefined;
    for (const id of this.ids()) {
      if (this.isolated.has(id)) continue;
      const h = this.get(id);
      const s = h.node.status();
      if (s.role === 'leader' && (!best || s.term > best.node.status().term)) best = h;
    }
    return best;
  }

  propose(id: string, data: string): ReturnType<RaftNode['propose']> {
    const r = this.get(id).node.propose(data);
    this.stabilize();
    return r;
  }

  proposeConf(id: string, change: ConfChange): ReturnType<RaftNode['proposeConfChange']> {
    const r = this.get(id).node.proposeConfChange(change);
    this.stabilize();
    return r;
  }
}
