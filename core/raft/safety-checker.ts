// Raft's safety properties (Raft paper, Figure 3) checked from the outside on a Harness cluster,
// after every step of a schedule: Election Safety (at most one leader per term), Log Matching,
// Leader Completeness, State Machine Safety (the same entry applied at each index everywhere), and
// that a node's commit index never goes back, except across a restart, where it never drops below
// what the node had made durable. A violation throws a SafetyViolation naming the property.

import type { Harness, HarnessNode } from './harness.ts';
import { describeEntry } from './interaction-format.ts';
import type { Entry, NodeId } from './types.ts';

export type SafetyProperty = 'election-safety' | 'log-matching' | 'leader-completeness' | 'state-machine-safety' | 'commit-monotonic' | 'durability';

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(readonly property: SafetyProperty, message: string) {
    super(`${property}: ${message}`);
  }
}

interface CommittedEntry {
  readonly term: number;
  /** The highest term any node had reached when this entry was first seen committed: it was
   * committed in a term no later than this one. */
  readonly seenAtTerm: number;
  readonly by: NodeId;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** By index: the term of the entry committed there, first seen on `by`. */
  private readonly committed = new Map<number, CommittedEntry>();
  /** By index: the entry applied there, as first seen. */
  private readonly applied = new Map<number, Entry & { readonly by: NodeId }>();
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly commitChecked = new Map<NodeId, number>();
  private readonly appliedChecked = new Map<NodeId, number>();
  private maxTermSeen = 0;

  /** Call before restarting `id`: afterwards its commit index must not drop below what it persisted. */
  beforeRestart(h: HarnessNode): void {
    const durable = Math.max(h.storage.getHardState().commit, h.storage.snapshot().meta.index);
    this.lastCommit.set(h.id, durable);
    this.appliedChecked.set(h.id, 0);
  }

  /** Check every property against the cluster as it is now. */
  observe(c: Harness): void {
    const ids = c.ids();
    for (const id of ids) this.maxTermSeen = Math.max(this.maxTermSeen, c.get(id).node.status().term);
    for (const id of ids) this.observeNode(c.get(id));
    this.checkLogMatching(c);
  }

  private observeNode(h: HarnessNode): void {
    const s = h.node.status();
    const commitBefore = this.lastCommit.get(h.id) ?? 0;
    if (s.commit < commitBefore) {
      this.fail('commit-monotonic', `${h.id}'s commit index went back from ${commitBefore} to ${s.commit}`);
    }
    this.lastCommit.set(h.id, s.commit);
    this.recordCommitted(h, s.commit);
    this.recordApplied(h);
    if (s.role === 'leader') this.checkLeader(h, s.term);
  }

  private checkLeader(h: HarnessNode, term: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known !== undefined && known !== h.id) this.fail('election-safety', `${known} and ${h.id} are both leaders of term ${term}`);
    if (known !== undefined) return;
    this.leaderOfTerm.set(term, h.id);
    // Newly elected: its log must hold every entry committed in an earlier term.
    const first = h.node.status().firstIndex;
    for (const [index, e] of this.committed) {
      if (e.seenAtTerm >= term || index < first) continue;
      const mine = h.node.termAt(index);
      if (mine !== e.term) {
        this.fail('leader-completeness', `${h.id}, new leader of term ${term}, has ${mine === undefined ? 'nothing' : `term ${mine}`} at index ${index}, where ${e.by} committed an entry of term ${e.term} by term ${e.seenAtTerm}`);
      }
    }
  }

  private recordCommitted(h: HarnessNode, commit: number): void {
    const from = Math.max(this.commitChecked.get(h.id) ?? 0, h.node.status().firstIndex - 1) + 1;
    for (let index = from; index <= commit; index++) {
      const term = h.node.termAt(index);
      if (term === undefined) continue;
      const known = this.committed.get(index);
      if (known === undefined) this.committed.set(index, { term, seenAtTerm: this.maxTermSeen, by: h.id });
      else if (known.term !== term) {
        this.fail('state-machine-safety', `index ${index} is committed with term ${term} on ${h.id} but with term ${known.term} on ${known.by}`);
      }
    }
    this.commitChecked.set(h.id, Math.max(this.commitChecked.get(h.id) ?? 0, commit));
  }

  private recordApplied(h: HarnessNode): void {
    const checked = this.appliedChecked.get(h.id) ?? 0;
    let k = h.applied.length;
    while (k > 0 && h.applied[k - 1]!.index > checked) k--;
    for (const e of h.applied.slice(k)) {
      const known = this.applied.get(e.index);
      if (known === undefined) this.applied.set(e.index, { ...e, by: h.id });
      else if (known.term !== e.term || known.data !== e.data) {
        this.fail('state-machine-safety', `${h.id} applied ${describeEntry(e)} at index ${e.index}, where ${known.by} applied ${describeEntry(known)}`);
      }
    }
    const last = h.applied[h.applied.length - 1];
    if (last) this.appliedChecked.set(h.id, Math.max(checked, last.index));
  }

  /** Log Matching: two logs that agree on the term at an index agree on every entry before it. */
  private checkLogMatching(c: Harness): void {
    const ids = c.ids();
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) this.checkPair(c.get(ids[a]!), c.get(ids[b]!));
    }
  }

  private checkPair(x: HarnessNode, y: HarnessNode): void {
    const sx = x.node.status();
    const sy = y.node.status();
    const low = Math.max(sx.firstIndex, sy.firstIndex);
    let agreed = false;
    for (let index = Math.min(sx.lastIndex, sy.lastIndex); index >= low; index--) {
      const tx = x.node.termAt(index);
      const ty = y.node.termAt(index);
      if (tx === ty) agreed = true;
      else if (agreed) this.fail('log-matching', `${x.id} and ${y.id} agree on a later entry but have terms ${tx} and ${ty} at index ${index}`);
    }
  }

  /** The entry applied at `index` anywhere so far, if any. */
  appliedAt(index: number): Entry | undefined {
    return this.applied.get(index);
  }

  private fail(property: SafetyProperty, message: string): never {
    throw new SafetyViolation(property, message);
  }
}
