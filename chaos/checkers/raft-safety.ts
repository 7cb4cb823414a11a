// Raft's safety properties, checked at every step of a simulated run (Raft paper §5.4, Figure 3):
// election safety (one leader per term), state machine safety (every node applies the same entry at
// the same index; acknowledged writes are never replaced), leader completeness (a new leader holds
// every entry already applied anywhere), durability (a restarted node remembers its synced term,
// vote and commit), and commit monotonicity. A violation throws SafetyViolation at once, so the run
// stops at the first step that breaks a property and the trace ends where the bug shows.

import type { Entry, HardState, NodeId } from '../../core/raft/index.ts';
import type { Message } from '../../core/raft/index.ts';
import type { DurableView, LogView, SimObserver } from '../../sim/protocol.ts';

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(readonly checker: string, message: string, readonly simTimeUs: number) {
    super(message);
  }
}

export class RaftSafetyChecker implements SimObserver {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The term and data applied at each index, by whichever node applied it first. */
  private readonly appliedTerm: number[] = [];
  private readonly appliedData: string[] = [];
  /** For each committed index: the term of the leader that first committed it, and the entry's term. */
  private readonly commitTerm: number[] = [];
  private readonly committedEntryTerm: number[] = [];
  private committedMax = 0;
  private readonly lastApplied = new Map<NodeId, number>();
  private readonly synced = new Map<NodeId, HardState>();
  readonly acked: { index: number; term: number }[] = [];
  elections = 0;

  private fail(checker: string, message: string, nowUs: number): never {
    throw new SafetyViolation(checker, message, nowUs);
  }

  onSoftState(node: NodeId, role: string, term: number, nowUs: number, log: LogView): void {
    if (role !== 'leader') return;
    this.elections++;
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node) this.fail('raft-safety', `election safety: ${other} and ${node} are both leader of term ${term}`, nowUs);
    this.leaderOfTerm.set(term, node);
    // Leader completeness (§5.4.3): entries committed in earlier terms are in the new leader's log.
    for (let i = Math.max(1, log.firstIndex); i <= this.committedMax; i++) {
      if (this.commitTerm[i]! >= term) continue;
      const t = log.termAt(i);
      if (t !== this.committedEntryTerm[i]) {
        this.fail('raft-safety', `leader completeness: ${node} became leader of term ${term} with ${t === undefined ? 'no entry' : `term ${t}`} at index ${i}, where an entry of term ${this.committedEntryTerm[i]} was committed in term ${this.commitTerm[i]}`, nowUs);
      }
    }
  }

  onApply(node: NodeId, entry: Entry, nowUs: number): void {
    const last = this.lastApplied.get(node) ?? 0;
    if (entry.index <= last) this.fail('raft-safety', `${node} applied index ${entry.index} after ${last}`, nowUs);
    this.lastApplied.set(node, entry.index);
    const term = this.appliedTerm[entry.index];
    if (term === undefined) {
      this.appliedTerm[entry.index] = entry.term;
      this.appliedData[entry.index] = entry.data;
      return;
    }
    if (term !== entry.term || this.appliedData[entry.index] !== entry.data) {
      this.fail('raft-safety', `state machine safety: ${node} applied ${describe(entry)} at index ${entry.index}, another node applied term ${term} ${JSON.stringify(this.appliedData[entry.index]!.slice(0, 60))}`, nowUs);
    }
  }

  onSnapshotApplied(node: NodeId, index: number, term: number, nowUs: number): void {
    const known = this.appliedTerm[index];
    if (known !== undefined && known !== term) this.fail('raft-safety', `${node} installed a snapshot at index ${index} term ${term}, but term ${known} was applied there`, nowUs);
    this.lastApplied.set(node, Math.max(this.lastApplied.get(node) ?? 0, index));
  }

  onHardStateSynced(node: NodeId, hs: HardState, nowUs: number): void {
    const prev = this.synced.get(node);
    if (prev) {
      if (hs.term < prev.term) this.fail('raft-safety', `${node}'s durable term went back from ${prev.term} to ${hs.term}`, nowUs);
      if (hs.commit < prev.commit) this.fail('raft-safety', `${node}'s durable commit index went back from ${prev.commit} to ${hs.commit}`, nowUs);
      if (hs.term === prev.term && prev.vote !== null && hs.vote !== prev.vote) {
        this.fail('raft-safety', `${node} voted for ${prev.vote} and then ${hs.vote} in term ${hs.term}`, nowUs);
      }
    }
    this.synced.set(node, hs);
  }

  onRestart(node: NodeId, hs: HardState, nowUs: number): void {
    this.lastApplied.set(node, 0);
    const prev = this.synced.get(node);
    if (!prev) return;
    const lost = hs.term < prev.term || hs.commit < prev.commit || (hs.term === prev.term && prev.vote !== null && hs.vote !== prev.vote);
    if (lost) {
      this.fail('durability', `${node} restarted with term ${hs.term} vote ${hs.vote} commit ${hs.commit}, but had synced term ${prev.term} vote ${prev.vote} commit ${prev.commit}`, nowUs);
    }
  }

  onWriteAcked(node: NodeId, index: number, term: number, nowUs: number): void {
    if (this.appliedTerm[index] !== term) this.fail('raft-safety', `${node} acknowledged a write at ${index} term ${term}, but term ${this.appliedTerm[index]} is applied there`, nowUs);
    this.acked.push({ index, term });
  }

  /**
   * Persist before send (thesis §3.8): a granted vote leaves only once the vote is durable, and an
   * append is acknowledged only once the acknowledged entries are durable.
   */
  onSend(node: NodeId, m: Message, durable: DurableView, nowUs: number): void {
    if (m.type === 'vote-resp' && !m.reject) {
      const hs = durable.hardState;
      // A later durable term also protects it: the node can never vote in that term again.
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail('raft-safety', `persist before send: ${node} granted its term-${m.term} vote to ${m.to} while its disk holds term ${hs.term} vote ${hs.vote}`, nowUs);
      }
    } else if (m.type === 'vote') {
      // A candidate's own vote counts for it: it must be durable before the campaign goes out.
      const hs = durable.hardState;
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== node)) {
        this.fail('raft-safety', `persist before send: ${node} campaigns in term ${m.term} while its disk holds term ${hs.term} vote ${hs.vote}`, nowUs);
      }
    } else if (m.type === 'app-resp' && !m.reject && m.index > 0) {
      if (durable.lastIndex < m.index) {
        this.fail('raft-safety', `persist before send: ${node} acknowledged entries up to ${m.index} to ${m.to} while its disk holds entries only up to ${durable.lastIndex}`, nowUs);
      }
    }
  }

  /** The commit rule (Raft §5.4.2): a leader commits by counting replicas only entries of its own term. */
  onLeaderCommit(node: NodeId, term: number, commit: number, log: LogView, nowUs: number): void {
    const entryTerm = log.termAt(commit);
    if (entryTerm !== term) {
      this.fail('raft-safety', `commit rule: leader ${node} of term ${term} advanced its commit index to ${commit}, an entry of term ${entryTerm}`, nowUs);
    }
    for (let i = this.committedMax + 1; i <= commit; i++) {
      this.commitTerm[i] = term;
      this.committedEntryTerm[i] = log.termAt(i) ?? 0;
    }
    if (commit > this.committedMax) this.committedMax = commit;
  }

  /** After convergence: every acknowledged write is still what every node applied at its index. */
  checkAckedWrites(finalApplied: number, nowUs: number): void {
    for (const a of this.acked) {
      if (a.index > finalApplied) this.fail('durability', `acknowledged write at index ${a.index} is beyond the converged log (${finalApplied})`, nowUs);
    }
  }
}

function describe(entry: Entry): string {
  return `term ${entry.term} ${JSON.stringify(entry.data.slice(0, 60))}`;
}
