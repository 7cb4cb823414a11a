// Random schedules for the Raft safety properties (safety.property.test.ts draws them): a cluster
// shape and a sequence of steps on the in-memory Harness: ticks, Readies handled node by node,
// subsets of the in-flight messages delivered in any order (some dropped, some stepped twice, some
// kept to be delivered again later), partitions and heals, crashes with restart from durable state,
// proposals, elections, leadership transfers, membership changes, snapshot + compaction.
// runSchedule checks Raft's safety after every step (SafetyChecker), then heals everything, lets
// time pass, and requires the cluster to converge to one applied sequence that holds every
// acknowledged, applied write. Pure and deterministic: a schedule replays exactly.

import { assertNever } from '../assert.ts';
import { noBugs, type RaftBugs } from './bugs.ts';
import { Harness, type HarnessNode } from './harness.ts';
import { SafetyChecker, SafetyViolation } from './safety-checker.ts';
import { nodeId, type Message, type NodeId } from './types.ts';

export interface ClusterShape {
  readonly size: 3 | 5;
  /** Nodes that start empty, knowing no configuration, and may be added by membership steps. */
  readonly spares: number;
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
  /** A membership change proposed at the leader (refusals are expected and fine). */
  | { readonly kind: 'member'; readonly change: 'add-learner' | 'add-voter' | 'remove'; readonly node: number }
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
  membershipChanges: number;
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

/** One schedule in progress (exported for replaying a failing schedule step by step). */
export class ScheduleRun {
  readonly c: Harness;
  readonly checker = new SafetyChecker();
  private readonly ids: string[];
  private readonly cut = new Set<NodeId>();
  private readonly acked: Acked[] = [];
  private proposals = 0;
  readonly stats: ScheduleStats = { maxTerm: 0, maxCommit: 0, acked: 0, restarts: 0, compactions: 0, snapshotChunksDelivered: 0, snapshotsInstalled: 0, duplicatesDelivered: 0, membershipChanges: 0 };
  /** Each node's snapshot index as last seen, to count snapshots installed from a leader. */
  private readonly snapshotIndex = new Map<NodeId, number>();

  constructor(shape: ClusterShape, bugs: RaftBugs) {
    const { size, spares, seed, ...options } = shape;
    this.ids = Array.from({ length: size + spares }, (_, i) => `n${i + 1}`);
    this.c = new Harness(this.ids.slice(0, size), { ...options, heartbeatTicks: 1, bugs }, seed + 1);
    for (const id of this.ids.slice(size)) this.c.add(nodeId(id), []);
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
      case 'member': {
        const leader = c.ids().find((id) => c.get(id).node.status().role === 'leader');
        if (leader && c.get(leader).node.proposeConfChange({ type: step.change, node: this.pick(step.node).id }).ok) this.stats.membershipChanges++;
        return;
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

  /**
   * Heal everything, let time pass until the cluster converges, and check what it converged to.
   * Nodes outside the leader's membership are shut down, as an operator would decommission them.
   */
  converge(): void {
    const c = this.c;
    this.cut.clear();
    c.heal();
    for (let t = 0; t < maxConvergeTicks && !converged(c); t++) {
      this.decommissionNonMembers();
      c.tickAll();
      c.stabilize();
      this.observe();
    }
    const members = converged(c);
    const states = c.ids().map((id) => `${id}: ${c.get(id).node.status().commit}/${c.get(id).node.status().lastIndex} [${c.get(id).state}]`).join('\n');
    if (!members) throw new ConvergenceFailure(`the healed cluster did not converge within ${maxConvergeTicks} ticks:\n${states}`);
    const reference = c.get(members[0]!).state;
    for (const id of members) {
      if (c.get(id).state !== reference) throw new SafetyViolation('state-machine-safety', `the converged members applied different sequences:\n${states}`);
    }
    const applied = new Set(reference.split(','));
    for (const a of this.acked) {
      const e = this.checker.appliedAt(a.index);
      if (e === undefined || e.term !== a.term || e.data !== a.data) continue; // never applied anywhere: it may be lost
      this.stats.acked++;
      if (!applied.has(a.data)) throw new SafetyViolation('durability', `acknowledged and applied write ${a.data} (${a.index}/${a.term}) was lost:\n${states}`);
    }
  }

  /** Cut off exactly the nodes outside the current leader's membership (a re-added node comes back). */
  private decommissionNonMembers(): void {
    const leader = currentLeader(this.c);
    if (!leader) return;
    const { voters, learners } = leader.node.status().conf;
    this.cut.clear();
    this.c.heal();
    for (const id of this.c.ids()) {
      // The leader itself may be outside: it removed itself and is handing over.
      if (voters.includes(id) || learners.includes(id) || id === leader.id) continue;
      this.cut.add(id);
      this.c.isolate(id);
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

/** The leader of the highest term, if any. */
function currentLeader(c: Harness): HarnessNode | undefined {
  let best: HarnessNode | undefined;
  for (const id of c.ids()) {
    const h = c.get(id);
    const s = h.node.status();
    if (s.role === 'leader' && (!best || s.term > best.node.status().term)) best = h;
  }
  return best;
}

/** The members, once one leader leads them all at one term with everything applied; else null. */
function converged(c: Harness): NodeId[] | null {
  const leader = currentLeader(c);
  if (!leader) return null;
  const l = leader.node.status();
  if (l.commit !== l.lastIndex) return null;
  const members = [...l.conf.voters, ...l.conf.learners].sort();
  for (const id of members) {
    const h = c.get(id);
    const s = h.node.status();
    if (s.term !== l.term || s.commit !== l.commit || s.lastIndex !== l.lastIndex || shellApplied(h) !== s.commit) return null;
    if (id !== leader.id && s.role === 'leader') return null;
  }
  return members;
}
