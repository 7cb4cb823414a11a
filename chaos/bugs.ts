// The catalog of plantable bugs. Each one is a real mistake control planes make; the chaos suite
// must catch every one within a bounded number of seeds, which is how the checkers earn trust.
// A bug belongs to the workloads whose code it lives in: the Raft core's bugs plant in both worlds
// (the managers run the same Raft), a key-value read bug only where there are key-value reads, and
// the orchestrator's bugs only in the orchestration world.

import { noBugs, type RaftBugs } from '../core/raft/index.ts';
import { noOrchestrationBugs, type OrchestrationBugs } from '../core/reconciler/index.ts';
import type { Workload } from './types.ts';

export interface PlantableBug {
  readonly name: string;
  readonly description: string;
  /** The workloads the bug's code runs in. */
  readonly workloads: readonly Workload[];
}

const both: readonly Workload[] = ['kv', 'orchestration'];

export const bugCatalog: readonly PlantableBug[] = [
  { name: 'commit-old-term', workloads: both, description: 'a leader commits an entry of an earlier term by counting replicas (Raft paper, Figure 8)' },
  { name: 'vote-without-persist', workloads: both, description: 'a node grants its vote without making it durable, so after a crash it can vote twice in a term' },
  { name: 'no-truncate-on-conflict', workloads: both, description: 'a follower keeps its own conflicting entries instead of truncating them to match the leader' },
  { name: 'stale-read', workloads: ['kv'], description: 'a deposed leader answers reads from its local state without confirming it still leads' },
  { name: 'lost-unsynced-ack', workloads: both, description: 'a node acknowledges entries and votes before its disk sync completes, so a crash loses acknowledged state' },
  { name: 'pipeline-early-reply', workloads: both, description: 'a node sends the messages of a Ready with nothing to write at once, before the writes still in flight are durable, so it can acknowledge entries or a vote it may still lose' },
  { name: 'vote-ignores-log', workloads: both, description: 'a node grants its vote without checking that the candidate\'s log is at least as up to date (Raft §5.4.1)' },
  { name: 'election-quorum-off-by-one', workloads: both, description: 'a candidate wins an election with half of the voters instead of a majority' },
  { name: 'read-before-apply', workloads: ['kv'], description: 'a node answers a read once its ReadIndex is confirmed, before applying the log up to that index' },
  { name: 'schedule-on-drained', workloads: ['orchestration'], description: 'the scheduler (and the store\'s re-check of an assignment) treats drained nodes as eligible for new tasks' },
  { name: 'ignore-max-failure-ratio', workloads: ['orchestration'], description: 'the rolling updater never compares failures with the max failure ratio, so a failing update neither pauses nor rolls back' },
  { name: 'forget-task-on-failover', workloads: ['orchestration'], description: 'the leader tracks the tasks it manages in memory outside Raft, so after a failover it loses tasks the previous leader created' },
  { name: 'double-slot', workloads: ['orchestration'], description: 'the slot-uniqueness check is off by one, so a slot can keep two running tasks' },
  { name: 'no-rebalance', workloads: ['orchestration'], description: 'the rebalancer never moves a task, so a node that comes back stays empty while the others carry its share' },
];

export interface PlantedBugs {
  readonly raft: RaftBugs;
  readonly ackBeforeSync: boolean;
  readonly pipelineEarlyReply: boolean;
  readonly readBeforeApply: boolean;
  readonly orchestration: OrchestrationBugs;
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
    pipelineEarlyReply: has('pipeline-early-reply'),
    readBeforeApply: has('read-before-apply'),
    orchestration: {
      ...noOrchestrationBugs,
      scheduleOnDrained: has('schedule-on-drained'),
      ignoreMaxFailureRatio: has('ignore-max-failure-ratio'),
      forgetTaskOnFailover: has('forget-task-on-failover'),
      doubleSlot: has('double-slot'),
      noRebalance: has('no-rebalance'),
    },
  };
}
