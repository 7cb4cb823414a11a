// Plantable bugs of the Raft core. Each exists so that the chaos checkers can prove they catch it;
// all are off in production and in clean chaos runs. The shell has plantable bugs of its own.

export interface RaftBugs {
  /** Count replicas to commit an entry of an earlier term (Raft paper, Figure 8). */
  readonly commitOldTerm: boolean;
  /** Grant a vote without making it part of the hard state that is persisted. */
  readonly voteWithoutPersist: boolean;
  /** A follower keeps its conflicting entries instead of truncating them. */
  readonly noTruncateOnConflict: boolean;
  /** A leader answers ReadIndex from its own commit index without confirming it is still leader. */
  readonly staleRead: boolean;
  /** A node grants its vote without checking that the candidate's log is at least as up to date. */
  readonly voteIgnoresLog: boolean;
  /** An election is won with half of the voters instead of a majority. */
  readonly electionQuorumOffByOne: boolean;
}

export const noBugs: RaftBugs = {
  commitOldTerm: false,
  voteWithoutPersist: false,
  noTruncateOnConflict: false,
  staleRead: false,
  voteIgnoresLog: false,
  electionQuorumOffByOne: false,
};
