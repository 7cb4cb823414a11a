// Property tests of Raft safety over random schedules on the in-memory Harness: ticks, Readies
// handled node by node, subsets of the in-flight messages delivered in random order (some dropped,
// some stepped twice, some kept to be delivered again later), partitions and heals, crashes with
// restart from durable state, proposals, elections, leadership transfers, membership changes (with
// a spare node that joins empty) and snapshot + compaction (see safety-schedule.ts).
// SafetyChecker checks Raft's safety properties after every step. Then everything heals and time
// passes until the cluster converges: every node must end with the same applied sequence, holding
// every proposal that was acknowledged and applied anywhere. A second group plants known bugs and
// requires the same checks to catch them. A failure prints fast-check's seed and path to replay it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvariantError } from '../assert.ts';
import { noBugs, type RaftBugs } from './bugs.ts';
import { Interaction } from './interaction.ts';
import { SafetyChecker, SafetyViolation } from './safety-checker.ts';
import { runSchedule, type ClusterShape, type Step } from './safety-schedule.ts';

const node = fc.nat({ max: 5 });

const shapeArb: fc.Arbitrary<ClusterShape> = fc.record({
  size: fc.constantFrom(3 as const, 5 as const),
  spares: fc.constantFrom(0, 1),
  seed: fc.nat({ max: 1_000_000 }),
  preVote: fc.boolean(),
  checkQuorum: fc.boolean(),
  electionTicks: fc.integer({ min: 3, max: 8 }),
  // 1 byte: one entry per append, so entries of a term reach followers one at a time.
  maxMsgBytes: fc.constantFrom(1, 64, 64 * 1024),
  maxInflightMsgs: fc.integer({ min: 1, max: 4 }),
  snapshotChunkBytes: fc.integer({ min: 3, max: 32 }),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('tick' as const), node, times: fc.integer({ min: 1, max: 10 }) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('tick-all' as const), times: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('ready' as const), node }) },
  { weight: 16, arbitrary: fc.constant({ kind: 'ready-all' as const }) },
  {
    weight: 24,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      picks: fc.array(fc.record({ at: fc.nat(), mode: fc.constantFrom('once' as const, 'once' as const, 'once' as const, 'twice' as const, 'keep' as const) }), { minLength: 1, maxLength: 8 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('isolate' as const), node }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'heal' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('restart' as const), node }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('propose' as const), node }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('campaign' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), node }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('compact' as const), node, leader: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('flush' as const), rounds: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('member' as const), change: fc.constantFrom('add-learner' as const, 'add-voter' as const, 'remove' as const), node }) },
);

const scheduleArb = fc.array(stepArb, { minLength: 30, maxLength: 250, size: 'medium' });

test('random schedules never violate Raft safety and converge once healed', () => {
  fc.assert(fc.property(shapeArb, scheduleArb, (shape, steps) => void runSchedule(shape, steps)), { numRuns: 200 });
});

test('random schedules on five nodes with PreVote and CheckQuorum never violate Raft safety', () => {
  const fiveNodes = shapeArb.map((s) => ({ ...s, size: 5 as const, preVote: true, checkQuorum: true }));
  fc.assert(fc.property(fiveNodes, scheduleArb, (shape, steps) => void runSchedule(shape, steps)), { numRuns: 100 });
});

test('the schedules are not vacuous: they elect, commit, crash, compact, install snapshots and change membership', () => {
  const totals = { maxTerm: 0, maxCommit: 0, acked: 0, restarts: 0, compactions: 0, snapshotsInstalled: 0, duplicatesDelivered: 0, membershipChanges: 0 };
  for (const [shape, steps] of fc.sample(fc.tuple(shapeArb, scheduleArb), { numRuns: 100, seed: 7 })) {
    const stats = runSchedule(shape, steps);
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += stats[key];
  }
  for (const [key, total] of Object.entries(totals)) assert.ok(total >= 20, `only ${total} ${key} over 100 schedules: ${JSON.stringify(totals)}`);
});

/** What caught a failing run: the safety property, 'invariant' for the core's own assertion, or the error's name. */
function caughtBy(e: unknown): string {
  if (e instanceof SafetyViolation) return e.property;
  if (e instanceof InvariantError) return 'invariant';
  return e instanceof Error ? e.name : String(e);
}

test('the checks catch a follower that keeps conflicting entries instead of truncating them', () => {
  const bugs: RaftBugs = { ...noBugs, noTruncateOnConflict: true };
  const result = fc.check(fc.property(shapeArb, scheduleArb, (shape, steps) => void runSchedule(shape, steps, bugs)), { numRuns: 200, seed: 42 });
  assert.ok(result.failed, 'the planted bug noTruncateOnConflict went unnoticed in 200 schedules');
  assert.match(caughtBy(result.errorInstance), /^(state-machine-safety|log-matching|leader-completeness|durability|invariant)$/);
});

// Random schedules reach Figure 8's interleaving too rarely (about once in 2500 runs of three nodes
// with one entry per append), so the planted bug commitOldTerm is shown on the figure itself: the
// steps of testdata/figure8-overwrite.txt, watched by the same checker after every command.
const figure8 = (bug: string): string[] => [
  `add-nodes 5 prevote=false checkquorum=false max-msg-bytes=1${bug}`,
  'campaign 1', 'stabilize',
  // (a) n1, leader of term 1, replicates entry 2 to n2 only, then crashes.
  'propose 1 a', 'deliver-msgs 2', 'drop-msgs 1 *', 'isolate 1', 'crash 1',
  // (b) n5 is elected for term 2 by n3 and n4, appends its own entry 2, and crashes.
  'campaign 5', 'deliver-msgs 2', 'deliver-msgs 3', 'deliver-msgs 4', 'deliver-msgs 5', 'drop-msgs 5 *', 'isolate 5', 'crash 5',
  // (c) n1 comes back, is elected for term 3 and brings entry 2 (term 1) to n2 and n3, a majority.
  'restart 1', 'heal', 'campaign 1', 'stabilize', 'campaign 1',
  'deliver-msgs 2', 'deliver-msgs 3', 'deliver-msgs 4', 'deliver-msgs 1', 'drop-msgs 1 4',
  'deliver-msgs 2', 'deliver-msgs 3', 'deliver-msgs 1', 'deliver-msgs 3', 'deliver-msgs 1',
  // n1 crashes before entry 3 (term 3) reaches n3; n5 is elected for term 4 and overwrites index 2.
  'drop-msgs 1 *', 'crash 1', 'restart 5', 'heal', 'campaign 5', 'stabilize', 'campaign 5', 'stabilize',
  'tick 5', 'stabilize',
];

function watchScript(commands: readonly string[]): string | null {
  const script = new Interaction();
  const checker = new SafetyChecker();
  try {
    for (const command of commands) {
      const restart = /^restart (\S+)$/.exec(command);
      if (restart) checker.beforeRestart(script.harness().get(`n${restart[1]!.replace(/^n/, '')}`));
      const output = script.run(command);
      const panic = output.find((line) => line.startsWith('panic:'));
      if (panic) throw new InvariantError(panic);
      checker.observe(script.harness());
    }
  } catch (e) {
    return caughtBy(e);
  }
  return null;
}

test('Figure 8 with the planted bug commitOldTerm violates state machine safety, and without it nothing does', () => {
  assert.equal(watchScript(figure8('')), null);
  assert.equal(watchScript(figure8(' bug=commitOldTerm')), 'state-machine-safety');
});
