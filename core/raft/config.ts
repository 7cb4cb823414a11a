// The typed configuration of one Raft node, with defaults, validated once when the node is built.

import type { RaftBugs } from './bugs.ts';
import { noBugs } from './bugs.ts';
import type { NodeId } from './types.ts';

export interface RaftConfig {
  readonly id: NodeId;
  /** Followers campaign after a random timeout in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Bound on the entries carried by one append message (at least one entry is always sent). */
  readonly maxMsgBytes: number;
  /** Bound on pipelined appends in flight to one follower. */
  readonly maxInflightMsgs: number;
  readonly snapshotChunkBytes: number;
  /** Bound on proposals appended but not yet committed; beyond it proposals are refused. */
  readonly maxUncommittedEntries: number;
  /** Bound on ReadIndex requests waiting for leadership confirmation. */
  readonly maxPendingReads: number;
  /** A learner is promoted only when it is within this many entries of the leader's log. */
  readonly maxLearnerLagEntries: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** The injected generator for election jitter: a float in [0, 1), never an ambient source. */
  readonly random: () => number;
  /** The last index the shell's state machine has applied (after a restart from a snapshot). */
  readonly applied: number;
  readonly bugs: RaftBugs;
}

export type RaftOptions = Partial<RaftConfig> & Pick<RaftConfig, 'id' | 'random'>;

export function raftConfig(options: RaftOptions): RaftConfig {
  const config: RaftConfig = {
    electionTicks: 10,
    heartbeatTicks: 1,
    maxMsgBytes: 64 * 1024,
    maxInflightMsgs: 64,
    snapshotChunkBytes: 64 * 1024,
    maxUncommittedEntries: 4096,
    maxPendingReads: 1024,
    maxLearnerLagEntries: 64,
    preVote: true,
    checkQuorum: true,
    applied: 0,
    bugs: noBugs,
    ...options,
  };
  const positive: (keyof RaftConfig)[] = ['electionTicks', 'heartbeatTicks', 'maxMsgBytes', 'maxInflightMsgs', 'snapshotChunkBytes', 'maxUncommittedEntries', 'maxPendingReads'];
  for (const key of positive) {
    const v = config[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new RangeError(`raft config ${key} must be a positive integer, got ${String(v)}`);
    }
  }
  if (config.heartbeatTicks >= config.electionTicks) {
    throw new RangeError(`raft config heartbeatTicks (${config.heartbeatTicks}) must be below electionTicks (${config.electionTicks})`);
  }
  return config;
}
