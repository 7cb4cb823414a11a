// The Raft state machine (Ongaro's thesis, in the shape of etcd's raft): term, vote, role, log and
// membership, driven only by tick() and step(). It performs no I/O: messages accumulate in `msgs`
// and leave through the node's Ready after the hard state and entries they depend on are durable.
// Invariants: at most one vote per term; a leader only ever appends to its own log; committed never
// goes back within a process life.

import { assert, assertNever } from '../assert.ts';
import type { RaftConfig } from './config.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { voteResult } from './quorum.ts';
import type { Storage } from './storage.ts';
import type { ConfState, Entry, HardState, Message, NodeId, ReadState, Role } from './types.ts';
import * as follower from './follower.ts';
import * as leader from './replication.ts';
import { ReadOnly } from './read-index.ts';

export interface IncomingSnapshot {
  readonly index: number;
  readonly term: number;
  readonly parts: string[];
  received: number;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  readonly log: RaftLog;
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  /** Leader only: replication state of every member, self included. Iterate via `peers()`. */
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId | null = null;
  pendingConfIndex = 0;
  /** Leader only: index of the first entry of its term; reads and conf changes wait for its commit. */
  termStartIndex = 0;
  readOnly: ReadOnly;
  incomingSnapshot: IncomingSnapshot | null = null;

  constructor(readonly config: RaftConfig, storage: Storage) {
    this.id = config.id;
    this.log = new RaftLog(storage);
    this.readOnly = new ReadOnly(config.maxPendingReads);
    this.log.onTruncate = (index) => this.dropAcksFrom(index);
    const { hardState, conf } = storage.initialState();
    this.setConf(conf);
    if (hardState.term > 0 || hardState.vote !== null || hardState.commit > 0) {
      assert(hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(), () => `hard state commit ${hardState.commit} outside log [${this.log.committed}, ${this.log.lastIndex()}]`);
      this.term = hardState.term;
      this.vote = hardState.vote;
      this.log.committed = hardState.commit;
    }
    if (config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, null);
  }

  hardState(): HardState {
    // Planted bug vote-without-persist: a vote granted to another node never reaches the disk.
    const vote = this.config.bugs.voteWithoutPersist && this.vote !== this.id ? null : this.vote;
    return { term: this.term, vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return { voters: this.voters.slice(), learners: this.learners.slice() };
  }

  setConf(conf: ConfState): void {
    this.voters = conf.voters.slice().sort();
    this.learners = conf.learners.slice().sort();
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Members other than self, in sorted order (voters then learners). */
  peers(): NodeId[] {
    const out: NodeId[] = [];
    for (const id of this.voters) if (id !== this.id) out.push(id);
    for (const id of this.learners) if (id !== this.id) out.push(id);
    return out;
  }

  send(message: Message): void {
    assert(message.to !== this.id, () => `a node never sends to itself (${message.type})`);
    this.msgs.push(message);
  }

  /**
   * Entries from `index` on were replaced. Acknowledgements of them not yet sent would claim entries
   * this node will never have durably (persist before send), so they are dropped; the leader retries.
   */
  private dropAcksFrom(index: number): void {
    this.msgs = this.msgs.filter((m) => !(m.type === 'app-resp' && !m.reject && m.index >= index));
  }

  // ---- role transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, () => `term goes back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + Math.floor(this.config.random() * this.config.electionTicks);
    this.leadTransferee = null;
    this.votes.clear();
    this.progress.clear();
    // Reads waiting on this node's leadership will never be confirmed: refuse them, so readers
    // fail fast instead of waiting for a timeout.
    for (const req of this.readOnly.drain()) {
      if (req.from === this.id) this.readOnly.rejected.push(req.context);
      else this.send({ type: 'read-index-resp', from: this.id, to: req.from, term, context: req.context, index: 0, reject: true });
    }
    this.pendingConfIndex = 0;
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = lead;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader never becomes a pre-candidate');
    // Like a follower that lost its leader; term and vote stay, so a failed pre-vote disturbs nobody.
    this.votes.clear();
    this.role = 'pre-candidate';
    this.leader = null;
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader never becomes a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', () => `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    const last = this.log.lastIndex();
    for (const id of [...this.voters, ...this.learners]) {
      const pr = new Progress(last + 1, this.learners.includes(id), this.config.maxInflightMsgs);
      if (id === this.id) pr.match = this.log.stableLastIndex();
      this.progress.set(id, pr);
    }
    // Conservative: a conf change may be pending in the uncommitted tail we inherited.
    this.pendingConfIndex = last;
    this.termStartIndex = last + 1;
    // The no-op of the new term: committing it commits everything before it (Raft §5.4.2).
    leader.appendEntries(this, [{ term: this.term, index: last + 1, type: 'normal', data: '' }]);
  }

  // ---- time ----

  tick(): void {
    if (this.role === 'leader') {
      leader.tickLeader(this);
      return;
    }
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  promotable(): boolean {
    return this.isVoter(this.id) && this.log.unstable.snapshot === null;
  }

  /** Start an election (a pre-vote first, unless this is a leadership transfer). */
  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return;
    this.campaign(this.config.preVote && !transfer ? 'pre' : 'real', transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    for (const e of this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type === 'conf') return true;
    }
    return false;
  }

  private campaign(kind: 'pre' | 'real', transfer: boolean): void {
    if (kind === 'pre') this.becomePreCandidate();
    else this.becomeCandidate();
    const term = kind === 'pre' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (voteResult(this.voters, this.votes, this.config.bugs.electionQuorumOffByOne) === 'won') {
      if (kind === 'pre') this.campaign('real', transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.voters) {
      if (to === this.id) continue;
      this.send({ type: kind === 'pre' ? 'pre-vote' : 'vote', from: this.id, to, term, lastIndex, lastTerm, transfer });
    }
  }

  // ---- messages ----

  step(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    switch (m.type) {
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        leader.stepLeader(this, m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        follower.stepFollower(this, m);
        return;
      default:
        assertNever(this.role, 'role');
    }
  }

  /** Returns false when the message must be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote' || m.type === 'pre-vote') {
      // A node that hears from a live leader ignores disruptive candidates (thesis §4.2.3).
      const inLease = this.config.checkQuorum && this.leader !== null && this.electionElapsed < this.config.electionTicks;
      if (!m.transfer && inLease) return false;
    }
    if (m.type === 'pre-vote') return true; // never changes our term
    if (m.type === 'pre-vote-resp' && !m.reject) return true; // the term is ours once we win the real vote
    const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    // A deposed leader cut off from the cluster learns our term from this and steps down. Without
    // PreVote and CheckQuorum our own vote requests would carry our term instead, but a node that
    // cannot campaign (a learner, a removed node) sends none: it must answer, or it stays stuck.
    const answer = this.config.checkQuorum || this.config.preVote || !this.promotable();
    if (answer && (m.type === 'app' || m.type === 'heartbeat')) {
      this.send({ type: 'app-resp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'pre-vote') {
      this.send({ type: 'pre-vote-resp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private handleVoteRequest(m: Extract<Message, { type: 'vote' | 'pre-vote' }>): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'pre-vote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    // Planted bug vote-ignores-log skips the election restriction (Raft §5.4.1).
    if (canVote && (this.config.bugs.voteIgnoresLog || this.log.isUpToDate(m.lastIndex, m.lastTerm))) {
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.becomeFollower(m.term, m.from);
        follower.stepFollower(this, m);
        return;
      case 'vote-resp':
      case 'pre-vote-resp': {
        if (m.type !== myResp) return;
        this.votes.set(m.from, !m.reject);
        const result = voteResult(this.voters, this.votes, this.config.bugs.electionQuorumOffByOne);
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('real', false);
          else {
            this.becomeLeader();
            leader.broadcastAppend(this);
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return; // timeout-now, read-index and stale responses mean nothing to a candidate
    }
  }

  // ---- membership (applied when the shell applies a committed conf entry) ----

  applyConfChange(conf: ConfState): void {
    this.setConf(conf);
    if (this.role !== 'leader') return;
    if (!this.isVoter(this.id)) {
      // The leader removed itself: it has replicated the change; now it steps aside.
      this.becomeFollower(this.term, null);
      return;
    }
    leader.syncProgressWithConf(this);
  }

  /** Entries the shell must persist, for tests and the node. */
  unstableEntries(): Entry[] {
    return this.log.unstableEntries();
  }
}
