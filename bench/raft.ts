// `npm run bench -- raft`: the Raft core's commit throughput on its own, without the simulator: an
// in-memory Harness cluster (synchronous delivery, MemoryStorage, no fsync, no network), so the
// number is the cost of the consensus code plus the harness's bookkeeping. Two shapes per size:
// batched (propose batchSize entries on the leader, then deliver until quiet) and unbatched (one
// proposal, then deliver until quiet: a full round trip per entry). A warm-up cluster runs both
// shapes first. Invariant checked after every measurement: every node applied every entry, in order.

import { Harness, type HarnessNode } from '../core/raft/harness.ts';
import type { BenchmarkArgs } from './cli.ts';
import { integerParameters } from './parameters.ts';

export interface RaftBenchParameters {
  readonly clusterSizes: readonly number[];
  /** Entries committed in the batched measurement, per cluster size. */
  readonly entriesBatched: number;
  /** Entries proposed before each stabilize in the batched measurement (below maxUncommittedEntries). */
  readonly batchSize: number;
  /** Entries committed in the one-proposal-per-round-trip measurement, per cluster size. */
  readonly entriesUnbatched: number;
  /** Entries per shape on the throwaway warm-up cluster. */
  readonly entriesWarmUp: number;
}

export const defaultRaftParameters: RaftBenchParameters = {
  clusterSizes: [3, 5],
  entriesBatched: 100_000,
  batchSize: 100,
  entriesUnbatched: 50_000,
  entriesWarmUp: 20_000,
};

/** Bound on batchSize: the core refuses proposals beyond its default maxUncommittedEntries (4096). */
const maxBatchSize = 4096;

export async function run(args: BenchmarkArgs, overrides: Partial<RaftBenchParameters> = {}): Promise<Record<string, unknown>> {
  const parameters = raftParameters(overrides);
  args.progress(`raft: warm-up, ${parameters.entriesWarmUp} entries per shape on 3 nodes`);
  measure(3, parameters.entriesWarmUp, parameters.batchSize);
  measure(3, parameters.entriesWarmUp, 1);
  const batched: Record<string, number> = {};
  const unbatched: Record<string, number> = {};
  for (const size of parameters.clusterSizes) {
    batched[String(size)] = Math.round(measure(size, parameters.entriesBatched, parameters.batchSize));
    args.progress(`raft: ${size} nodes, batches of ${parameters.batchSize}: ${batched[String(size)]} commits/s`);
    unbatched[String(size)] = Math.round(measure(size, parameters.entriesUnbatched, 1));
    args.progress(`raft: ${size} nodes, one per round trip: ${unbatched[String(size)]} commits/s`);
  }
  return {
    commitsPerWallSecond: batched,
    commitsPerWallSecondUnbatched: unbatched,
    batchSize: parameters.batchSize,
    entriesBatched: parameters.entriesBatched,
    entriesUnbatched: parameters.entriesUnbatched,
    node: process.version,
  };
}

/** Defaults plus overrides, validated once. */
export function raftParameters(overrides: Partial<RaftBenchParameters>): RaftBenchParameters {
  const parameters = integerParameters('raft', defaultRaftParameters, overrides);
  if (parameters.batchSize > maxBatchSize) throw new RangeError(`raft benchmark batchSize must be at most ${maxBatchSize}, got ${parameters.batchSize}`);
  if (parameters.clusterSizes.length === 0 || parameters.clusterSizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`raft benchmark clusterSizes must be a non-empty list of integers >= 1, got [${parameters.clusterSizes.join(', ')}]`);
  }
  return parameters;
}

/** Commits `entries` on a fresh cluster of `size`, `batchSize` proposals per stabilize; returns commits per wall second. */
export function measure(size: number, entries: number, batchSize: number): number {
  const harness = new Harness(Array.from({ length: size }, (_, i) => `n${i + 1}`));
  const leader = harness.electLeader();
  const appliedBefore = leader.applied.length;
  const startMs = performance.now();
  for (let proposed = 0; proposed < entries; ) {
    const batchEnd = Math.min(entries, proposed + batchSize);
    for (; proposed < batchEnd; proposed++) propose(leader, proposed);
    harness.stabilize();
  }
  const wallSeconds = (performance.now() - startMs) / 1000;
  const committed = leader.applied.length - appliedBefore;
  assertAllApplied(harness, entries);
  return committed / wallSeconds;
}

function propose(leader: HarnessNode, i: number): void {
  const result = leader.node.propose(payload(i));
  if (!result.ok) throw new Error(`proposal ${i} on leader ${leader.id} was refused: ${result.code}: ${result.message}`);
}

function payload(i: number): string {
  return `set k${i % 64}=${i}`;
}

/**
 * Throws unless every node applied the same log, whose normal entries with data are exactly the
 * `entries` proposals in order (the empty entry a new leader appends is not a proposal).
 */
export function assertAllApplied(harness: Harness, entries: number): void {
  const leader = harness.leader();
  if (!leader) throw new Error('no leader after the measurement');
  for (const id of harness.ids()) {
    const applied = harness.get(id).applied.filter((e) => e.type === 'normal' && e.data !== '');
    if (applied.length !== entries) throw new Error(`node ${id} applied ${applied.length} of ${entries} proposed entries`);
    for (let i = 0; i < entries; i++) {
      if (applied[i]!.data !== payload(i)) throw new Error(`node ${id} applied '${applied[i]!.data}' as proposal ${i}, expected '${payload(i)}'`);
    }
  }
}
