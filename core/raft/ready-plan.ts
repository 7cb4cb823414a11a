// What a pipelined shell (RaftNode.readyPipelined) does with one Ready, decided in one place for the
// simulator's shell and the daemon's, so the rules chaos testing checks are the ones production runs:
//   - a new term or vote is written before anything that depends on it leaves; a new commit index
//     alone is not written on its own (Raft can learn it again from the leader), it rides along with
//     the next write: one fsync per write instead of two; except a commit index that commits a
//     membership change, written before the change is applied: a node restarted with its commit
//     index short of a change it applied would campaign under the membership before it (a founder
//     that had added two managers would elect itself alone);
//   - a leader's appends and heartbeats leave at once, before its own write is durable (Raft thesis
//     §10.2.1), when its term and vote are durable: the core counts the leader's own copy toward
//     commit only once persisted() says so, so "committed" still means durable on a majority;
//     every other message waits until this Ready's write and every earlier one are durable;
//   - committed entries are durable locally and on a majority, so they are applied as the Ready is
//     taken; a snapshot or a membership change is applied only once every earlier Ready is processed,
//     and no later Ready is taken meanwhile (the shell's barrier).

import type { Ready } from './node.ts';
import type { HardState, Message, Role } from './types.ts';

export interface ReadyPlan {
  /** The Ready changes the term or the vote. */
  readonly termOrVote: boolean;
  /** It has a snapshot, entries, a new term or vote, or a commit index committing a membership change to write. */
  readonly needsWrite: boolean;
  /** Its snapshot or membership change is applied when processed, behind a barrier. */
  readonly deferApply: boolean;
  /** Messages that may leave as the Ready is taken. */
  readonly early: readonly Message[];
  /** Messages that wait until its write and every earlier one are durable. */
  readonly after: readonly Message[];
}

/**
 * Plans a Ready just taken. `queued` is the hard state last handed to the disk (written or being
 * written), `durable` the one the disk holds; `role` the node's role now.
 */
export function planReady(ready: Ready, role: Role, queued: HardState, durable: HardState): ReadyPlan {
  const hard = ready.hardState;
  const termOrVote = hard !== null && (hard.term !== queued.term || hard.vote !== queued.vote);
  const committedConf = ready.committed.some((e) => e.type === 'conf');
  const needsWrite = ready.snapshot !== null || ready.entries.length > 0 || termOrVote || (committedConf && hard !== null);
  const deferApply = ready.snapshot !== null || committedConf;
  const settled = !termOrVote && queued.term === durable.term && queued.vote === durable.vote;
  if (role !== 'leader' || !settled) return { termOrVote, needsWrite, deferApply, early: [], after: ready.messages };
  const early: Message[] = [];
  const after: Message[] = [];
  for (const m of ready.messages) (m.type === 'app' || m.type === 'heartbeat' ? early : after).push(m);
  return { termOrVote, needsWrite, deferApply, early, after };
}
