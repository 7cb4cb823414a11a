// The pipelined Ready protocol (readyPipelined / persisted / applied): several Readies outstanding,
// each carrying only what the earlier ones did not, and the leader's own copy counting toward
// commit only once persisted() says it is durable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './harness.ts';
import { Unstable } from './log-unstable.ts';
import type { Ready } from './node.ts';
import { planReady } from './ready-plan.ts';
import { nodeId, type Entry, type HardState, type Message } from './types.ts';

const entry = (index: number, term: number, data = ''): Entry => ({ index, term, type: 'normal', data });

/** A 3-node cluster with a leader and one follower cut off, so commit needs the leader's own copy. */
function twoOfThree(): { c: Harness; leader: string; follower: string } {
  const c = new Harness(['n1', 'n2', 'n3']);
  const leader = c.electLeader().id;
  const others = c.ids().filter((id) => id !== leader);
  c.isolate(others[1]!);
  return { c, leader, follower: others[0]! };
}

/** Steps the leader's messages to `follower` through its synchronous Ready loop; returns its replies. */
function replicate(c: Harness, messages: readonly Message[], follower: string): Message[] {
  const f = c.get(follower);
  for (const m of messages) if (m.to === f.id) f.node.step(m);
  const replies: Message[] = [];
  while (f.node.hasReady()) {
    const rd = f.node.ready();
    if (rd.snapshot) f.storage.applySnapshot(rd.snapshot);
    f.storage.append(rd.entries);
    if (rd.hardState) f.storage.setHardState(rd.hardState);
    replies.push(...rd.messages);
    f.node.advance(rd);
  }
  return replies;
}

function persist(c: Harness, id: string, rd: Ready): void {
  const h = c.get(id);
  h.storage.append(rd.entries);
  if (rd.hardState) h.storage.setHardState(rd.hardState);
  h.node.persisted(rd);
}

test('a later pipelined Ready carries only the entries the earlier ones did not', () => {
  const { c, leader } = twoOfThree();
  const node = c.get(leader).node;
  node.propose('a');
  const first = node.readyPipelined();
  node.propose('b');
  assert.equal(node.hasReadyPipelined(), true);
  assert.equal(node.hasReady(), true, 'no synchronous Ready is outstanding');
  const second = node.readyPipelined();
  assert.deepEqual(first.entries.map((e) => e.data), ['a']);
  assert.deepEqual(second.entries.map((e) => e.data), ['b']);
  assert.equal(node.hasReadyPipelined(), false);
});

test("the leader's entries commit only once persisted() says its own copy is durable", () => {
  const { c, leader, follower } = twoOfThree();
  const node = c.get(leader).node;
  const before = node.commitIndex();
  node.propose('a');
  const rd = node.readyPipelined();
  const replies = replicate(c, rd.messages, follower);
  for (const m of replies) node.step(m);
  assert.equal(node.commitIndex(), before, 'the follower alone is not a majority of 3');
  persist(c, leader, rd);
  assert.equal(node.commitIndex(), rd.entries[rd.entries.length - 1]!.index);
});

test('committed entries are handed out once, even before applied() confirms them', () => {
  const { c, leader, follower } = twoOfThree();
  const node = c.get(leader).node;
  node.propose('a');
  const rd = node.readyPipelined();
  persist(c, leader, rd);
  for (const m of replicate(c, rd.messages, follower)) node.step(m);
  const withCommit = node.readyPipelined();
  assert.deepEqual(withCommit.committed.map((e) => e.data), ['a']);
  node.propose('b');
  const next = node.readyPipelined();
  assert.deepEqual(next.committed, [], 'a is being applied already');
  node.applied(withCommit);
  assert.equal(node.status().applied, withCommit.committed[0]!.index);
});

test('ready() refuses to mix with readyPipelined() outstanding, and advance() needs ready()', () => {
  const { c, leader } = twoOfThree();
  const node = c.get(leader).node;
  node.propose('a');
  const rd = node.ready();
  assert.throws(() => node.readyPipelined(), /mixed/);
  node.advance(rd);
  assert.throws(() => node.advance(rd), /without an outstanding/);
});

test('unstable: a truncation inside the entries in flight hands the replacements out again', () => {
  const u = new Unstable(5);
  u.truncateAndAppend([entry(5, 2), entry(6, 2), entry(7, 2), entry(8, 2)]);
  u.acceptInProgress();
  assert.deepEqual(u.nextEntries(), []);
  u.truncateAndAppend([entry(7, 3), entry(8, 3), entry(9, 3)]);
  assert.deepEqual(u.nextEntries().map((e) => `${e.index}/${e.term}`), ['7/3', '8/3', '9/3']);
  u.acceptInProgress();
  // The first write lands: its last entry (8, term 2) was replaced, so nothing becomes stable yet.
  u.stableTo(8, 2);
  assert.equal(u.offset, 5);
  // The second write lands: everything up to (9, 3) is durable.
  u.stableTo(9, 3);
  assert.equal(u.offset, 10);
  assert.equal(u.offsetInProgress, 10);
  assert.deepEqual(u.entries, []);
});

test('unstable: a snapshot handed out is not handed out again, and a new one is', () => {
  const u = new Unstable(1);
  const snap = (index: number) => ({ meta: { index, term: 1, conf: { voters: [], learners: [] } }, data: '' });
  u.restore(snap(10));
  assert.equal(u.nextSnapshot()?.meta.index, 10);
  u.acceptInProgress();
  assert.equal(u.nextSnapshot(), null);
  u.restore(snap(20));
  assert.equal(u.nextSnapshot()?.meta.index, 20);
  u.stableSnapTo(20);
  assert.equal(u.snapshot, null);
  assert.equal(u.snapshotInProgress, false);
});

test('planReady: what is written, what leaves early, what is applied behind a barrier', () => {
  const n1 = nodeId('n1');
  const n2 = nodeId('n2');
  const hs = (term: number, vote: string | null, commit: number): HardState => ({ term, vote: vote === null ? null : nodeId(vote), commit });
  const msg = (type: Message['type']): Message => ({ type, from: n1, to: n2, term: 2 }) as Message;
  const ready = (over: Partial<Ready>): Ready => ({ softState: null, hardState: null, entries: [], snapshot: null, committed: [], messages: [], readStates: [], readsRejected: [], ...over });
  const settled = hs(2, 'n1', 5);
  const messages = [msg('app'), msg('heartbeat'), msg('read-index-resp')];

  const leader = planReady(ready({ entries: [entry(6, 2)], hardState: hs(2, 'n1', 6), messages }), 'leader', settled, settled);
  assert.equal(leader.needsWrite, true);
  assert.equal(leader.termOrVote, false);
  assert.deepEqual(leader.early.map((m) => m.type), ['app', 'heartbeat']);
  assert.deepEqual(leader.after.map((m) => m.type), ['read-index-resp']);

  const commitOnly = planReady(ready({ hardState: hs(2, 'n1', 7) }), 'leader', settled, settled);
  assert.equal(commitOnly.needsWrite, false, 'a new commit index alone is not written');

  const newTerm = planReady(ready({ hardState: hs(3, null, 5), messages }), 'leader', settled, settled);
  assert.equal(newTerm.needsWrite, true);
  assert.deepEqual(newTerm.early, [], 'nothing leaves before a new term is durable');
  const termInFlight = planReady(ready({ messages }), 'leader', hs(3, null, 5), settled);
  assert.deepEqual(termInFlight.early, [], 'nor while it is being written');
  assert.deepEqual(planReady(ready({ messages }), 'follower', settled, settled).early, [], "a follower's answers wait for the disk");

  const conf: Entry = { index: 4, term: 2, type: 'conf', data: '{}' };
  assert.equal(planReady(ready({ committed: [entry(3, 2), conf] }), 'leader', settled, settled).deferApply, true);
  assert.equal(planReady(ready({ committed: [entry(3, 2)] }), 'leader', settled, settled).deferApply, false);
  const commitsConf = planReady(ready({ hardState: hs(2, 'n1', 4), committed: [conf] }), 'leader', settled, settled);
  assert.equal(commitsConf.needsWrite, true, 'a commit index that commits a membership change is written before the change applies');
});
