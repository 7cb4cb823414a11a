// The public face of the Raft core (etcd's RawNode): inputs are tick(), step(), propose(),
// proposeConfChange(), transferLeadership() and readIndex(); the output is one Ready value of what to
// persist, send and apply. The shell must, in order: persist the snapshot, entries and hard state;
// sync; send the messages; apply the snapshot then the committed entries (conf entries through
// applyConfChange); then call advance(ready). One Ready is outstanding at a time.
// A pipelined shell (readyPipelined) instead keeps several Readies outstanding, so the disk writes
// one while the next is being prepared: it calls persisted(ready) when a Ready's write is durable
// (in the order the Readies were taken) and applied(ready) once its committed entries are applied.

import { assert } from '../assert.ts';
import { raftConfig, type RaftOptions } from './config.ts';
import { Raft } from './raft.ts';
import { appendEntries, broadcastAppend, committedInTerm, leaderRead, selfPersisted, transferLeadership } from './replication.ts';
import type { Storage } from './storage.ts';
import type { ConfChange, ConfEntryData, ConfState, Entry, HardState, Message, NodeId, ReadState, Role, Snapshot, SoftState } from './types.ts';

export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Contexts of local ReadIndex requests that were refused (no leader, too many, leadership lost). */
  readonly readsRejected: readonly string[];
}

export type ProposeError =
  | { readonly code: 'not-leader'; readonly leader: NodeId | null; readonly message: string }
  | { readonly code: 'transfer-in-progress' | 'overloaded' | 'conf-change-pending' | 'not-ready' | 'invalid-conf-change'; readonly message: string };

export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | ({ readonly ok: false } & ProposeError);

export interface NodeStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
}

/** Bound on committed bytes handed out in one Ready, so a long catch-up is applied in slices. */
const maxCommittedBytesPerReady = 1024 * 1024;

export class RaftNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOutstanding = false;

  constructor(options: RaftOptions, storage: Storage) {
    this.raft = new Raft(raftConfig(options), storage);
    this.prevSoft = { leader: this.raft.leader, role: this.raft.role };
    this.prevHard = storage.initialState().hardState;
  }

  tick(): void {
    this.raft.tick();
  }

  step(message: Message): void {
    assert(message.to === this.raft.id, () => `message for ${message.to} delivered to ${this.raft.id}`);
    this.raft.step(message);
  }

  /** Campaign now (tests and operator-forced elections). */
  campaign(): void {
    this.raft.hup(false);
  }

  propose(data: string): ProposeResult {
    return this.proposeEntry('normal', data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const r = this.raft;
    if (r.role === 'leader') {
      if (r.pendingConfIndex > r.log.applied) {
        return { ok: false, code: 'conf-change-pending', message: `a membership change at index ${r.pendingConfIndex} is not applied yet; propose one change at a time` };
      }
      // A new leader first commits an entry of its term (the single-server change fix, thesis §4.1).
      if (!committedInTerm(r)) return { ok: false, code: 'not-ready', message: 'the leader has not committed an entry of its term yet; retry shortly' };
      const invalid = this.validateConfChange(change);
      if (invalid) return { ok: false, code: 'invalid-conf-change', message: invalid };
    }
    // The entry carries the membership it results in, not only the change: a node that joined
    // knowing no configuration (the initial one lives in the index-0 snapshot, which is never sent)
    // would otherwise apply the change to an empty membership and could elect itself alone.
    const conf = nextConf(r.confState(), change);
    const data: ConfEntryData = { ...change, conf };
    const result = this.proposeEntry('conf', JSON.stringify(data));
    if (result.ok) r.pendingConfIndex = result.index;
    return result;
  }

  private validateConfChange(change: ConfChange): string | null {
    const r = this.raft;
    const isVoter = r.voters.includes(change.node);
    const isLearner = r.learners.includes(change.node);
    switch (change.type) {
      case 'add-voter': {
        if (isVoter) return `node ${change.node} is already a voter`;
        const pr = r.progress.get(change.node);
        if (isLearner && pr && pr.match + r.config.maxLearnerLagEntries < r.log.lastIndex()) {
          return `learner ${change.node} is ${r.log.lastIndex() - pr.match} entries behind (at most ${r.config.maxLearnerLagEntries} to be promoted); let it catch up`;
        }
        return null;
      }
      case 'add-learner':
        return isVoter ? `node ${change.node} is a voter; remove it first to make it a learner` : isLearner ? `node ${change.node} is already a learner` : null;
      case 'remove':
        if (!isVoter && !isLearner) return `node ${change.node} is not a member`;
        if (isVoter && r.voters.length === 1) return `node ${change.node} is the last voter; a cluster needs at least one`;
        return null;
    }
  }

  private proposeEntry(type: Entry['type'], data: string): ProposeResult {
    const r = this.raft;
    if (r.role !== 'leader') {
      return { ok: false, code: 'not-leader', leader: r.leader, message: r.leader ? `not the leader; the leader is ${r.leader}` : 'no leader is known; retry shortly' };
    }
    if (r.leadTransferee !== null) {
      return { ok: false, code: 'transfer-in-progress', message: `leadership is being transferred to ${r.leadTransferee}; retry there` };
    }
    if (this.removingSelf()) {
      return { ok: false, code: 'not-leader', leader: null, message: 'this leader is being removed from the cluster; retry on the next leader' };
    }
    if (r.log.lastIndex() - r.log.committed >= r.config.maxUncommittedEntries) {
      return { ok: false, code: 'overloaded', message: `${r.config.maxUncommittedEntries} entries are waiting to commit; retry later` };
    }
    const index = r.log.lastIndex() + 1;
    appendEntries(r, [{ term: r.term, index, type, data }]);
    broadcastAppend(r);
    return { ok: true, index, term: r.term };
  }

  /**
   * True while an entry that removes this leader is in its log but not applied. Such a leader takes
   * no new proposals. Once the removal commits it steps down, and a remaining voter that has not
   * heard of the commit still counts it and needs its vote, which it refuses to a log shorter than
   * its own: entries appended after the removal that the others lack would leave the cluster
   * leaderless for good (testdata/remove-leader-lost-commit.txt). Without them, the voters that
   * committed the removal hold this leader's whole log, and any of them can be elected.
   */
  private removingSelf(): boolean {
    const r = this.raft;
    if (r.pendingConfIndex <= r.log.applied) return false;
    const lo = Math.max(r.log.applied + 1, r.log.firstIndex());
    for (const e of r.log.slice(lo, r.log.lastIndex() + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type !== 'conf') continue;
      const change = JSON.parse(e.data) as ConfChange;
      if (change.type === 'remove' && change.node === r.id) return true;
    }
    return false;
  }

  /** Apply a committed conf entry's change; returns the resulting membership. */
  applyConfChange(change: ConfChange | ConfEntryData): ConfState {
    const r = this.raft;
    const carried = 'conf' in change ? change.conf : null;
    const conf: ConfState = carried ? { voters: [...carried.voters].sort(), learners: [...carried.learners].sort() } : nextConf(r.confState(), change);
    r.applyConfChange(conf);
    return conf;
  }

  /** Apply a committed conf entry (the shell calls this for every applied entry of type 'conf'). */
  applyConfEntry(entry: Entry): ConfState {
    assert(entry.type === 'conf', () => `entry ${entry.index} is not a conf entry`);
    return this.applyConfChange(JSON.parse(entry.data) as ConfEntryData);
  }

  transferLeadership(to: NodeId): ProposeResult {
    const r = this.raft;
    if (r.role !== 'leader') return { ok: false, code: 'not-leader', leader: r.leader, message: 'only the leader can transfer leadership' };
    if (!r.voters.includes(to)) return { ok: false, code: 'invalid-conf-change', message: `node ${to} is not a voter` };
    transferLeadership(r, to);
    return { ok: true, index: r.log.lastIndex(), term: r.term };
  }

  /** Ask for a linearizable read; the answer comes back as a ReadState (or in readsRejected). */
  readIndex(context: string): void {
    const r = this.raft;
    if (r.role === 'leader') leaderRead(r, context, r.id);
    else if (r.leader !== null) r.send({ type: 'read-index', from: r.id, to: r.leader, term: r.term, context });
    else r.readOnly.rejected.push(context);
  }

  hasReady(): boolean {
    return !this.readyOutstanding && this.somethingReady();
  }

  /** Like hasReady, for a pipelined shell: Readies already outstanding do not count. */
  hasReadyPipelined(): boolean {
    return this.somethingReady();
  }

  private somethingReady(): boolean {
    const r = this.raft;
    if (r.msgs.length > 0 || r.readStates.length > 0 || r.readOnly.rejected.length > 0) return true;
    if (r.log.unstable.hasNextEntries() || r.log.unstable.nextSnapshot() !== null) return true;
    if (r.role !== this.prevSoft.role || r.leader !== this.prevSoft.leader) return true;
    const hs = r.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    return r.log.committed > r.log.applying && r.log.nextCommitted(1, true).length > 0;
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    const rd = this.takeReady();
    this.readyOutstanding = true;
    return rd;
  }

  /**
   * The next Ready while earlier ones may still be outstanding: its entries follow those already
   * handed out and its committed entries follow those already handed out for applying. The shell
   * must write the Readies' entries, snapshots and hard states in the order it took them, and may
   * send a Ready's messages only once its own write and every earlier one are durable (a leader's
   * appends and heartbeats excepted, Raft thesis §10.2.1).
   */
  readyPipelined(): Ready {
    assert(!this.readyOutstanding, 'readyPipelined() mixed with ready()/advance()');
    return this.takeReady();
  }

  private takeReady(): Ready {
    const r = this.raft;
    const soft = r.role !== this.prevSoft.role || r.leader !== this.prevSoft.leader ? { leader: r.leader, role: r.role } : null;
    const hs = r.hardState();
    const hard = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit ? hs : null;
    const rd: Ready = {
      softState: soft,
      hardState: hard,
      entries: r.log.unstable.nextEntries(),
      snapshot: r.log.unstable.nextSnapshot(),
      committed: r.log.nextCommitted(maxCommittedBytesPerReady, true),
      messages: r.msgs,
      readStates: r.readStates,
      readsRejected: r.readOnly.rejected,
    };
    r.msgs = [];
    r.readStates = [];
    r.readOnly.rejected = [];
    if (soft) this.prevSoft = soft;
    if (hard) this.prevHard = hard;
    r.log.unstable.acceptInProgress();
    const lastCommitted = rd.committed[rd.committed.length - 1];
    if (lastCommitted) r.log.applyingTo(lastCommitted.index);
    return rd;
  }

  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without an outstanding ready()');
    this.readyOutstanding = false;
    this.persisted(rd);
    this.applied(rd);
  }

  /** A pipelined Ready's snapshot, entries and hard state are durable. */
  persisted(rd: Ready): void {
    const r = this.raft;
    if (rd.snapshot) r.log.unstable.stableSnapTo(rd.snapshot.meta.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last) {
      r.log.stableTo(last.index, last.term);
      selfPersisted(r, r.log.stableLastIndex());
    }
  }

  /** A pipelined Ready's snapshot was installed and its committed entries applied. */
  applied(rd: Ready): void {
    const r = this.raft;
    // The shell has installed the snapshot in its state machine: it is applied now, not before.
    if (rd.snapshot && rd.snapshot.meta.index > r.log.applied) r.log.appliedTo(rd.snapshot.meta.index);
    // A snapshot installed while this Ready was out may already cover its committed entries.
    const applied = rd.committed[rd.committed.length - 1];
    if (applied && applied.index > r.log.applied) r.log.appliedTo(applied.index);
  }

  status(): NodeStatus {
    const r = this.raft;
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      role: r.role,
      leader: r.leader,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      conf: r.confState(),
    };
  }

  /** Cheap accessors for hot paths (status() allocates). */
  role(): Role {
    return this.raft.role;
  }

  term(): number {
    return this.raft.term;
  }

  /** The leader this node knows of, or null. */
  leader(): NodeId | null {
    return this.raft.leader;
  }

  commitIndex(): number {
    return this.raft.log.committed;
  }

  /** The term of entry `index` in this node's log (undefined when compacted or absent). */
  termAt(index: number): number | undefined {
    return this.raft.log.term(index);
  }

  /** Replication progress of each member as the leader sees it (empty on followers). */
  progress(): { id: NodeId; match: number; next: number; state: string }[] {
    return [...this.raft.progress.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, p]) => ({ id, match: p.match, next: p.next, state: p.state }));
  }
}

/** The membership that results from applying `change` to `conf`. */
function nextConf(conf: ConfState, change: ConfChange): ConfState {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  voters.delete(change.node);
  learners.delete(change.node);
  if (change.type === 'add-voter') voters.add(change.node);
  else if (change.type === 'add-learner') learners.add(change.node);
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
