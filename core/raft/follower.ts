// The follower's side of Raft: accepting appends (truncating conflicts, hinting where to retry),
// heartbeats, chunked snapshots, TimeoutNow and forwarded ReadIndex answers. Every reply leaves only
// after the entries and hard state it acknowledges are durable (the node's Ready guarantees it).

import type { Raft } from './raft.ts';
import type { Message, Snapshot } from './types.ts';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'app':
      r.electionElapsed = 0;
      r.leader = m.from;
      handleAppend(r, m);
      return;
    case 'heartbeat':
      r.electionElapsed = 0;
      r.leader = m.from;
      r.log.commitTo(m.commit);
      r.send({ type: 'heartbeat-resp', from: r.id, to: m.from, term: r.term, context: m.context });
      return;
    case 'snap':
      r.electionElapsed = 0;
      r.leader = m.from;
      handleSnapshotChunk(r, m);
      return;
    case 'timeout-now':
      r.hup(true);
      return;
    case 'read-index-resp':
      if (m.reject) r.readOnly.rejected.push(m.context);
      else r.readStates.push({ context: m.context, index: m.index });
      return;
    default:
      return; // responses meant for a leader or candidate are stale here
  }
}

function appendResponse(r: Raft, to: Message['from'], index: number, reject: boolean, hintIndex: number, hintTerm: number): void {
  r.send({ type: 'app-resp', from: r.id, to, term: r.term, index, reject, hintIndex, hintTerm });
}

function handleAppend(r: Raft, m: Extract<Message, { type: 'app' }>): void {
  if (m.prevIndex < r.log.committed) {
    appendResponse(r, m.from, r.log.committed, false, 0, 0);
    return;
  }
  const lastNew = r.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries, r.config.bugs.noTruncateOnConflict);
  if (lastNew !== undefined) {
    appendResponse(r, m.from, lastNew, false, 0, 0);
    return;
  }
  const hint = r.log.findConflictByTerm(Math.min(m.prevIndex, r.log.lastIndex()), m.prevTerm);
  appendResponse(r, m.from, m.prevIndex, true, hint.index, hint.term);
}

function askChunk(r: Raft, m: Extract<Message, { type: 'snap' }>, nextOffset: number): void {
  r.send({ type: 'snap-resp', from: r.id, to: m.from, term: r.term, snapIndex: m.meta.index, nextOffset, reject: false });
}

function handleSnapshotChunk(r: Raft, m: Extract<Message, { type: 'snap' }>): void {
  if (m.offset === 0) r.incomingSnapshot = { index: m.meta.index, term: m.meta.term, parts: [], received: 0 };
  const incoming = r.incomingSnapshot;
  if (incoming === null || incoming.index !== m.meta.index || incoming.term !== m.meta.term || incoming.received !== m.offset) {
    // Out of order, duplicated or from another snapshot: ask for what we need.
    const matches = incoming !== null && incoming.index === m.meta.index && incoming.term === m.meta.term;
    askChunk(r, m, matches ? incoming.received : 0);
    return;
  }
  incoming.parts.push(m.chunk);
  incoming.received += m.chunk.length;
  if (!m.done) {
    askChunk(r, m, incoming.received);
    return;
  }
  r.incomingSnapshot = null;
  const snap: Snapshot = { meta: m.meta, data: incoming.parts.join('') };
  const index = restore(r, snap) ? r.log.lastIndex() : r.log.committed;
  r.send({ type: 'app-resp', from: r.id, to: m.from, term: r.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
}

/** Install a snapshot; false when it is old news or our log already holds its last entry. */
function restore(r: Raft, snap: Snapshot): boolean {
  if (snap.meta.index <= r.log.committed) return false;
  if (r.log.matchTerm(snap.meta.index, snap.meta.term)) {
    r.log.commitTo(snap.meta.index);
    return false;
  }
  r.log.restore(snap);
  r.setConf(snap.meta.conf);
  return true;
}
