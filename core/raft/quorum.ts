// Majority arithmetic for one configuration of voters: the committed index is the highest index a
// majority has matched, and an election is won, lost or pending by counting granted and rejected votes.

import type { NodeId } from './types.ts';

/** The largest index that at least a majority of `voters` have matched. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0; // an empty configuration commits nothing
  const matches = new Array<number>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i]!);
  matches.sort((a, b) => b - a);
  return matches[Math.floor(n / 2)]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** `offByOne` is the planted bug election-quorum-off-by-one: half the voters count as a quorum. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>, offByOne = false): VoteResult {
  const quorum = Math.max(1, Math.floor(voters.length / 2) + (offByOne ? 0 : 1));
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= quorum) return 'won';
  if (rejected > voters.length - quorum) return 'lost';
  return 'pending';
}

export function isQuorum(voters: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  let count = 0;
  for (const id of voters) if (has(id)) count++;
  return count >= Math.floor(voters.length / 2) + 1;
}
