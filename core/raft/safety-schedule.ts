// Random schedules for the Raft safety properties (safety.property.test.ts draws them): a cluster
// shape and a sequence of steps on the in-memory Harness: ticks, Readies handled node by node,
// subsets of the in-flight messages delivered in any order (some dropped, some stepped twice, some
// kept to be delivered again later), partitions and heals, crashes with restart from durable state,
// proposals, elections, leadership transfers, snapshot + compaction. runSchedule checks Raft's
// safety after every step (SafetyChecker), then heals everything, lets time pass, and requires the
// cluster to converge to one applied sequence that holds every acknowledged, applied write.

import { assertNever } from '../assert.ts';
import { noBugs, type RaftBugs } from './bugs.ts';
import { Harness, type HarnessNode } from './harness.ts';
import { SafetyChecker, SafetyViolation } from './safety-checker.ts';
import type { Message, NodeId } from './types.ts';

export interface ClusterShape {
  readonly size: 3 | 5;
  readonly seed: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTicks: number;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;
}

export type Step =
  | { readonly kind: 'tick'; readonly node: number; readonly times: number }
  | { readonly kind: 'tick-all'; readonly times: number }
  | { readonly kind: 'ready'; readonly node: number }
  | { readonly kind: 'ready-all' }
  | { readonly kind: 'deliver'; readonly picks: readonly { readonly at: number; readonly mode: 'once' | 'twice' | 'keep' }[] }
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'isolate'; readonly node: number }
  | { readonly kind: 'heal' }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'propose'; readonly node: number }
  | { readonly kind: 'campaign'; readonly node: number }
  | { readonly kind: 'transfer'; readonly node: number }
  | { readonly kind: 'compact'; readonly node: number; readonly leader: boolean }
  /** Let the network catch up: `rounds` times, handle every Ready and deliver every queued message. */
  | { readonly kind: 'flush'; readonly rounds: number };

/** Bound on the ticks the healed cluster gets to converge (each followed by a full stabilize). */
const maxConvergeTicks = 400;

/** What a schedule exercised, so a test can tell a vacuous schedule from a busy one. */
export interface ScheduleStats {
  maxTerm: number;
  maxCommit: number;
  acked: number;
  restarts: number;
  compactions: number;
  snapshotChunksDelivered: number;
  snapshotsInstalled: number;
  duplicatesDelivered: number;
}

interface Acked {
  readonly data: string;
  readonly index: number;
  readonly term: number;
}

/** The cluster failed to converge after every fault healed (a liveness failure, not a safety one). */
export class ConvergenceFailure extends Error {
  override readonly name = 'ConvergenceFailure';
}

class ScheduleRun {
  readonly c: Harness;
  readonly checker = new SafetyChecker();
  private readonly ids: string[];
  private readonly cut = new Set<NodeId>();
  private readonly acked: Acked[] = [];
  private proposals = 0;
  readonly stats: ScheduleStats = { maxTerm: 0, maxCommit: 0, acked: 0, restarts: 0, compactions: 0, snapshotChunksDelivered: 0, snapshotsInstalled: 0, duplicatesDelivered: 0 };
  /** Each node's snapshot index as last seen, to count snapshots installed from a leader. */
  private readonly snapshotIndex = new Map<NodeId, number>();

  constructor(shape: ClusterShape, bugs: RaftBugs) {
    this.ids = Array.from({ length: shape.size }, (_, i) => `n${i + 1}`);
    const { size: _size, seed, ...options } = shape;
    this.c = new Harness(this.ids, { ...options, heartbeatTicks: 1, bugs }, seed + 1);
  }

  private pick(n: number): HarnessNode {
    return this.c.get(this.ids[n % this.ids.length]!);
  }

  private lost(m: Message): boolean {
    return this.cut.has(m.from) || this.cut.has(m.to);
  }

  apply(step: Step): void {
    const c = this.c;
    switch (step.kind) {
      case 'tick':
        for (let i = 0; i < step.times; i++) this.pick(step.node).node.tick();
        return;
      case 'tick-all':
        return c.tickAll(step.times);
      case 'ready':
        while (c.processReady(this.pick(step.node).id));
        return;
      case 'ready-all':
        for (const id of c.ids()) while (c.processReady(id));
        return;
      case 'deliver':
        return this.deliver(step.picks);
      case 'drop':
        if (c.queue.length > 0) c.queue.splice(step.at % c.queue.length, 1);
        return;
      case 'isolate':
        this.cut.add(this.pick(step.node).id);
        return c.isolate(this.pick(step.node).id);
      case 'heal':
        this.cut.clear();
        return c.heal();
      case 'restart':
        this.stats.restarts++;
        this.checker.beforeRestart(this.pick(step.node));
        return c.restart(this.pick(step.node).id);
      case 'propose':
        return this.propose(step.node);
      case 'campaign':
        return this.pick(step.node).node.campaign();
      case 'transfer': {
        const leader = c.ids().find((id) => c.get(id).node.status().role === 'leader');
        if (leader) c.get(leader).node.transferLeadership(this.pick(step.node).id);
        return;
      }
      case 'compact': {
        const leader = c.ids().find((id) => c.get(id).node.status().role === 'leader');
        return this.compact(step.leader && leader ? c.get(leader) : this.pick(step.node));
      }
      case 'flush':
        for (let round = 0; round < step.rounds; round++) {
          for (const id of c.ids()) while (c.processReady(id));
          const batch = c.queue;
          c.queue = [];
          for (const m of batch) if (!this.lost(m)) c.get(m.to).node.step(m);
        }
        return;
      default:
        return assertNever(step, 'step');
    }
  }

  private deliver(picks: Extract<Step, { kind: 'deliver' }>['picks']): void {
    const c = this.c;
    for (const p of picks) {
      if (c.queue.length === 0) return;
      const at = p.at % c.queue.length;
      const m = c.queue[at]!;
      if (p.mode !== 'keep' || this.lost(m)) c.queue.splice(at, 1);
      if (this.lost(m)) continue;
      if (m.type === 'snap') this.stats.snapshotChunksDelivered++;
      c.get(m.to).node.step(m);
      if (p.mode === 'twice') {
        this.stats.duplicatesDelivered++;
        c.get(m.to).node.step(m);
      }
    }
  }

  private propose(n: number): void {
    const c = this.c;
    const leaders = c.ids().filter((id) => c.get(id).node.status().role === 'leader');
    const at = leaders.length > 0 ? c.get(leaders[n % leaders.length]!) : this.pick(n);
    const data = `p${++this.proposals}`;
    const r = at.node.propose(data);
    if (r.ok) this.acked.push({ data, index: r.index, term: r.term });
  }

  /** Snapshot what the shell has applied (h.state) and compact the log up to there. */
  private compact(h: HarnessNode): void {
    const applied = shellApplied(h);
    if (applied <= h.storage.snapshot().meta.index) return;
    this.stats.compactions++;
    h.storage.createSnapshot(applied, h.node.status().conf, h.state);
    h.storage.compact(applied);
    this.snapshotIndex.set(h.id, applied);
  }

  observe(): void {
    this.checker.observe(this.c);
    for (const id of this.c.ids()) {
      const snap = this.c.get(id).storage.snapshot().meta.index;
      if (snap > (this.snapshotIndex.get(id) ?? 0)) this.stats.snapshotsInstalled++;
      this.snapshotIndex.set(id, snap);
      const s = this.c.get(id).node.status();
      this.stats.maxTerm = Math.max(this.stats.maxTerm, s.term);
      this.stats.maxCommit = Math.max(this.stats.maxCommit, s.commit);
    }
  }

  /** Heal everything, let time pass until the cluster converges, and check what it converged to. */
  converge(): void {
    const c = this.c;
    this.cut.clear();
    c.heal();
    for (let t = 0; t < maxConvergeTicks && !converged(c); t++) {
      c.tickAll();
      c.stabilize();
      this.observe();
    }
    const states = c.ids().map((id) => `${id}: ${c.get(id).node.status().commit}/${c.get(id).node.status().lastIndex} [${c.get(id).state}]`).join('\n');
    if (!converged(c)) throw new ConvergenceFailure(`the healed cluster did not converge within ${maxConvergeTicks} ticks:\n${states}`);
    const reference = c.get(c.ids()[0]!).state;
    for (const id of c.ids()) {
      if (c.get(id).state !== reference) throw new SafetyViolation('state-machine-safety', `the converged nodes applied different sequences:\n${states}`);
    }
    const applied = new Set(reference.split(','));
    for (const a of this.acked) {
      const e = this.checker.appliedAt(a.index);
      if (e === undefined || e.term !== a.term || e.data !== a.data) continue; // never applied anywhere: it may be lost
      this.stats.acked++;
      if (!applied.has(a.data)) throw new SafetyViolation('durability', `acknowledged and applied write ${a.data} (${a.index}/${a.term}) was lost:\n${states}`);
    }
  }
}

/** One schedule on one cluster. Throws SafetyViolation, InvariantError (from the core) or ConvergenceFailure. */
export function runSchedule(shape: ClusterShape, steps: readonly Step[], bugs: RaftBugs = noBugs): ScheduleStats {
  const run = new ScheduleRun(shape, bugs);
  for (const step of steps) {
    run.apply(step);
    run.observe();
  }
  run.converge();
  return run.stats;
}

/**
 * The index the shell's state machine (h.state) has reached. Not status().applied: the core counts a
 * snapshot it received as applied before the shell has installed it from the next Ready.
 */
export function shellApplied(h: HarnessNode): number {
  return Math.max(h.storage.snapshot().meta.index, h.applied[h.applied.length - 1]?.index ?? 0);
}

function converged(c: Harness): boolean {
  const statuses = c.ids().map((id) => c.get(id).node.status());
  const leaders = statuses.filter((s) => s.role === 'leader');
  if (leaders.length !== 1) return false;
  const leader = leaders[0]!;
  if (leader.commit !== leader.lastIndex) return false;
  return c.ids().every((id, k) => {
    const s = statuses[k]!;
    return s.term === leader.term && s.commit === leader.commit && shellApplied(c.get(id)) === s.commit && s.lastIndex === leader.lastIndex;
  });
}
