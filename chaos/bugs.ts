// The catalog of plantable bugs. Each one is a real mistake Raft implementations make; the chaos
// suite must catch every one within a bounded number of seeds, which is how the checkers earn trust.

import { noBugs, type RaftBugs } from '../core/raft/index.ts';

export interface PlantableBug {
  readonly name: string;
  readonly description: string;
}

export const bugCatalog: readonly PlantableBug[] = [
  { name: 'commit-old-term', description: 'a leader commits an entry of an earlier term by counting replicas (Raft paper, Figure 8)' },
  { name: 'vote-without-persist', description: 'a node grants its vote without making it durable, so after a crash it can vote twice in a term' },
  { name: 'no-truncate-on-conflict', description: 'a follower keeps its own conflicting entries instead of truncating them to match the leader' },
  { name: 'stale-read', description: 'a deposed leader answers reads from its local state without confirming it still leads' },
  { name: 'lost-unsynced-ack', description: 'a node acknowledges entries and votes before its disk sync completes, so a crash loses acknowledged state' },
  { name: 'vote-ignores-log', description: 'a node grants its vote without checking that the candidate\'s log is at least as up to date (Raft §5.4.1)' },
  { name: 'election-quorum-off-by-one', description: 'a candidate wins an election with half of the voters instead of a majority' },
  { name: 'read-before-apply', description: 'a node answers a read once its ReadIndex is confirmed, before applying the log up to that index' },
];

export interface PlantedBugs {
  readonly raft: RaftBugs;
  readonly ackBeforeSync: boolean;
  readonly readBeforeApply: boolean;
}

export function plantBugs(names: readonly string[]): PlantedBugs {
  const known = new Set(bugCatalog.map((b) => b.name));
  for (const name of names) {
    if (!known.has(name)) throw new RangeError(`unknown bug '${name}'; plantable bugs: ${[...known].join(', ')}`);
  }
  const has = (n: string) => names.includes(n);
  return {
    raft: {
      ...noBugs,
      commitOldTerm: has('commit-old-term'),
      voteWithoutPersist: has('vote-without-persist'),
      noTruncateOnConflict: has('no-truncate-on-conflict'),
      staleRead: has('stale-read'),
      voteIgnoresLog: has('vote-ignores-log'),
      electionQuorumOffByOne: has('election-quorum-off-by-one'),
    },
    ackBeforeSync: has('lost-unsynced-ack'),
    readBeforeApply: has('read-before-apply'),
  };
}
