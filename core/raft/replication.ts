// The leader's side of Raft: appending proposals, replicating with batching and a pipelined window,
// fast backtracking, chunked snapshots, the commit rule, heartbeats, CheckQuorum and leadership
// transfer. Invariant: an entry is committed by counting replicas only when it is of the current term.

import { assert } from '../assert.ts';
import { Progress } from './progress.ts';
import { committedIndex, isQuorum } from './quorum.ts';
import type { Raft } from './raft.ts';
import type { Entry, Message, NodeId } from './types.ts';
import { respondRead } from './read-index.ts';

/** Append to the leader's own log. Its copy counts toward commit only once durable (see selfPersisted). */
export function appendEntries(r: Raft, entries: readonly Entry[]): void {
  r.log.append(entries);
}

/**
 * The shell made the leader's own entries durable up to `index`: only now does its copy count, so
 * "committed" always means durable on a majority, the leader included.
 */
export function selfPersisted(r: Raft, index: number): void {
  const pr = r.progress.get(r.id);
  if (r.role !== 'leader' || !pr || !pr.maybeUpdate(index)) return;
  if (maybeCommit(r)) broadcastAppend(r);
}

/** Advance the commit index to what a majority has matched. Returns true when it moved. */
export function maybeCommit(r: Raft): boolean {
  const index = committedIndex(r.voters, (id) => r.progress.get(id)?.match ?? 0);
  if (index <= r.log.committed) return false;
  // Raft §5.4.2: never commit an earlier term's entry by counting replicas (planted bug otherwise).
  if (!r.config.bugs.commitOldTerm && r.log.term(index) !== r.term) return false;
  const wasCommittedInTerm = committedInTerm(r);
  r.log.commitTo(index);
  if (!wasCommittedInTerm && committedInTerm(r)) releasePendingReads(r);
  return true;
}

export function committedInTerm(r: Raft): boolean {
  return r.log.committed >= r.termStartIndex;
}

function releasePendingReads(r: Raft): void {
  for (const req of r.readOnly.takeWaitingForCommit()) leaderRead(r, req.context, req.from);
}

export function broadcastAppend(r: Raft): void {
  for (const id of r.peers()) sendAppend(r, id, true);
}

function broadcastHeartbeat(r: Raft, context: string | null): void {
  for (const id of r.peers()) {
    const pr = r.progress.get(id)!;
    const commit = Math.min(pr.match, r.log.committed);
    r.send({ type: 'heartbeat', from: r.id, to: id, term: r.term, commit, context });
  }
}

/** Send appends to `to` while its window allows; an empty one only to probe or carry the commit. */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): void {
  const pr = r.progress.get(to);
  if (!pr) return;
  let first = true;
  while (!pr.isPaused()) {
    const prevIndex = pr.next - 1;
    const prevTerm = r.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : r.log.entriesFrom(pr.next, r.config.maxMsgBytes);
    if (prevTerm === undefined || entries === undefined) {
      startSnapshot(r, to, pr);
      return;
    }
    if (entries.length === 0 && !(first && sendIfEmpty)) return;
    r.send({ type: 'app', from: r.id, to, term: r.term, prevIndex, prevTerm, entries, commit: r.log.committed });
    pr.sentEntries(prevIndex + entries.length, entries.length);
    first = false;
    if (pr.state !== 'replicate' || entries.length === 0) return;
  }
}

function startSnapshot(r: Raft, to: NodeId, pr: Progress): void {
  const snap = r.log.snapshot();
  assert(snap.meta.index > 0, () => `follower ${to} needs entries before ${r.log.firstIndex()} but there is no snapshot`);
  pr.becomeSnapshot(snap.meta.index);
  sendSnapshotChunk(r, to, pr);
}

function sendSnapshotChunk(r: Raft, to: NodeId, pr: Progress): void {
  if (pr.snapshotChunkSent) return;
  const snap = r.log.snapshot();
  if (snap.meta.index !== pr.pendingSnapshot) {
    // A newer snapshot replaced the one being sent: start over with it.
    pr.pendingSnapshot = snap.meta.index;
    pr.snapshotOffset = 0;
  }
  const offset = pr.snapshotOffset;
  const chunk = snap.data.slice(offset, offset + r.config.snapshotChunkBytes);
  const done = offset + chunk.length >= snap.data.length;
  r.send({ type: 'snap', from: r.id, to, term: r.term, meta: snap.meta, offset, chunk, done });
  pr.snapshotChunkSent = true;
}

export function stepLeader(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  switch (m.type) {
    case 'app-resp':
      if (pr) handleAppendResponse(r, m, pr);
      return;
    case 'heartbeat-resp':
      if (pr) handleHeartbeatResponse(r, m, pr);
      return;
    case 'snap-resp':
      if (!pr) return;
      pr.recentActive = true;
      if (pr.state !== 'snapshot' || m.snapIndex !== pr.pendingSnapshot) return;
      if (m.reject) {
        pr.becomeProbe();
        return;
      }
      // A request for the chunk already in flight is a duplicate, or the answer to a duplicated or
      // reordered chunk: answering each with another chunk would let every duplicate the network
      // makes circulate for ever, and they multiply. A lost chunk is resent on the heartbeat.
      if (m.nextOffset === pr.snapshotOffset && pr.snapshotChunkSent) return;
      pr.snapshotOffset = m.nextOffset;
      pr.snapshotChunkSent = false;
      sendSnapshotChunk(r, m.from, pr);
      return;
    case 'read-index':
      leaderRead(r, m.context, m.from);
      return;
    default:
      return; // votes of this term are already decided; timeout-now and read responses are not for leaders
  }
}

function handleAppendResponse(r: Raft, m: Extract<Message, { type: 'app-resp' }>, pr: Progress): void {
  pr.recentActive = true;
  if (m.reject) {
    let hint = m.hintIndex;
    if (m.hintTerm > 0) hint = r.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppend(r, m.from, true);
    }
    return;
  }
  const oldPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) {
    if (oldPaused && !pr.isPaused()) sendAppend(r, m.from, false);
    return;
  }
  if (pr.state === 'probe') pr.becomeReplicate();
  else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
    pr.becomeProbe();
    pr.becomeReplicate();
  }
  if (maybeCommit(r)) broadcastAppend(r);
  else sendAppend(r, m.from, false);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.send({ type: 'timeout-now', from: r.id, to: m.from, term: r.term });
  }
}

function handleHeartbeatResponse(r: Raft, m: Extract<Message, { type: 'heartbeat-resp' }>, pr: Progress): void {
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === 'replicate' && pr.inflight.length >= r.config.maxInflightMsgs) pr.inflight.shift();
  if (pr.state === 'snapshot') {
    pr.snapshotChunkSent = false; // the chunk may be lost: resend it
    sendSnapshotChunk(r, m.from, pr);
  } else if (pr.match < r.log.lastIndex()) {
    sendAppend(r, m.from, true);
  }
  if (m.context === null || !r.isVoter(m.from)) return;
  for (const req of r.readOnly.acknowledge(m.context, m.from, (acks) => isQuorum(r.voters, (id) => acks.has(id)))) {
    respondRead(r, req.context, req.from, req.index);
  }
}

/** A ReadIndex request reached the leader (from itself or forwarded by a follower). */
export function leaderRead(r: Raft, context: string, from: NodeId): void {
  if (r.config.bugs.staleRead) {
    // Planted bug: answer from the local commit index without confirming leadership.
    respondRead(r, context, from, r.log.committed);
    return;
  }
  if (!committedInTerm(r)) {
    if (!r.readOnly.waitForCommit(context, from)) rejectRead(r, context, from);
    return;
  }
  if (r.voters.length === 1) {
    respondRead(r, context, from, r.log.committed);
    return;
  }
  if (!r.readOnly.add(context, from, r.log.committed, r.id)) {
    rejectRead(r, context, from);
    return;
  }
  broadcastHeartbeat(r, context);
}

function rejectRead(r: Raft, context: string, from: NodeId): void {
  if (from === r.id) r.readOnly.rejected.push(context);
  else r.send({ type: 'read-index-resp', from: r.id, to: from, term: r.term, context, index: 0, reject: true });
}

export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.config.electionTicks) {
    r.electionElapsed = 0;
    if (r.config.checkQuorum) {
      const active = isQuorum(r.voters, (id) => id === r.id || r.progress.get(id)?.recentActive === true);
      for (const [id, pr] of r.progress) if (id !== r.id) pr.recentActive = false;
      if (!active) {
        r.becomeFollower(r.term, null);
        return;
      }
    }
    r.leadTransferee = null; // a transfer that did not finish within an election timeout is abandoned
  }
  if (r.heartbeatElapsed >= r.config.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    broadcastHeartbeat(r, r.readOnly.lastContext());
  }
}

export function transferLeadership(r: Raft, to: NodeId): void {
  assert(r.role === 'leader', 'only a leader transfers leadership');
  if (to === r.id || r.leadTransferee === to) return;
  r.leadTransferee = to;
  r.electionElapsed = 0;
  const pr = r.progress.get(to)!;
  if (pr.match === r.log.lastIndex()) r.send({ type: 'timeout-now', from: r.id, to, term: r.term });
  else sendAppend(r, to, true);
}

/** After a membership change is applied: track new members, forget removed ones, recount commits. */
export function syncProgressWithConf(r: Raft): void {
  const members = new Set<NodeId>([...r.voters, ...r.learners]);
  for (const id of [...r.progress.keys()].sort()) {
    if (!members.has(id)) r.progress.delete(id);
  }
  const last = r.log.lastIndex();
  for (const id of [...r.voters, ...r.learners]) {
    const existing = r.progress.get(id);
    if (existing) existing.isLearner = r.learners.includes(id);
    else r.progress.set(id, new Progress(last + 1, r.learners.includes(id), r.config.maxInflightMsgs));
  }
  if (r.leadTransferee !== null && !r.isVoter(r.leadTransferee)) r.leadTransferee = null;
  if (maybeCommit(r)) broadcastAppend(r);
  else for (const id of r.peers()) sendAppend(r, id, false);
}
