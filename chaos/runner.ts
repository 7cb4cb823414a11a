// The seed runner: one seed → its swarm-drawn fault plan → a simulated run with the Raft safety
// checker watching every step → the liveness phase → the linearizability verdict on the client
// history. Deterministic: the same options give the same result and trace hash. Every result carries
// the command that replays it. The orchestration workload has its own runner
// (orchestration-runner.ts); runSeed picks by options.workload.

import { Cluster, LivenessError } from '../sim/cluster.ts';
import { drawPlan, maskPlan, type FaultClassName, type FaultPlan } from '../sim/nemesis.ts';
import { orchestrationPlanFor, runOrchestrationSeed } from './orchestration-runner.ts';
import { classifyError, replayCommand } from './replay.ts';
import { Rng } from '../sim/rng.ts';
import { plantBugs } from './bugs.ts';
import { checkLinearizability } from './checkers/linearizability.ts';
import { RaftSafetyChecker, SafetyViolation } from './checkers/raft-safety.ts';
import type { HistoryEvent } from './history.ts';
import { faultClasses, type ChaosOptions, type FaultClass, type SeedResult, type Violation } from './types.ts';

export { defaultChaosOptions, replayCommand } from './replay.ts';

/** The plan a seed draws (before any mask): the shrinker enumerates its events and rates. */
export function planFor(options: ChaosOptions): FaultPlan {
  if (options.workload === 'orchestration') return orchestrationPlanFor(options);
  const rng = new Rng(String(options.seed));
  return drawPlan(rng.child('nemesis'), options.nodes, machineClasses(options.faults), options.durationSimSeconds * 1_000_000);
}

/** The classes of `faults` that strike machines (the key-value world has only these). */
export function machineClasses(faults: readonly FaultClass[]): FaultClassName[] {
  return faults.filter((c): c is FaultClassName => (faultClasses as readonly string[]).includes(c));
}

/** One seed of the workload the options name. */
export function runSeed(options: ChaosOptions): SeedResult {
  return options.workload === 'orchestration' ? runOrchestrationSeed(options) : runKvSeed(options);
}

function runKvSeed(options: ChaosOptions): SeedResult {
  let plan = planFor(options);
  if (options.mask) plan = maskPlan(plan, options.mask.events, options.mask.rates);
  const bugs = plantBugs(options.bugs);
  const safety = new RaftSafetyChecker();
  const cluster = new Cluster({
    seed: String(options.seed),
    nodes: options.nodes,
    durationUs: options.durationSimSeconds * 1_000_000,
    opsPerSecond: options.opsPerSecond,
    plan,
    raftBugs: bugs.raft,
    ackBeforeSync: bugs.ackBeforeSync,
    pipelineEarlyReply: bugs.pipelineEarlyReply,
    readBeforeApply: bugs.readBeforeApply,
    observer: safety,
    trace: options.trace,
  });
  let violation: Violation | null = null;
  try {
    cluster.run();
    const leader = cluster.hosts[cluster.leaderIndex()];
    if (leader) safety.checkAckedWrites(leader.appliedTo(), cluster.queue.nowUs);
  } catch (e) {
    violation = classify(e, cluster.queue.nowUs);
  }
  const history = cluster.workload.history as readonly HistoryEvent[];
  let linearizability = 'skipped';
  if (violation === null) {
    const verdict = checkLinearizability(history);
    linearizability = verdict.result;
    if (verdict.result === 'violation') {
      violation = { checker: 'linearizability', message: `key ${verdict.key}: ${verdict.detail}`, simTimeUs: cluster.queue.nowUs };
    } else if (verdict.result === 'unknown') {
      linearizability = `unknown (${verdict.reason})`;
    }
  }
  const stats = historyStats(history);
  return {
    seed: options.seed,
    violation,
    traceHash: cluster.hash.hex(),
    faultsFired: cluster.faultsFired(),
    faultDetail: cluster.faultDetail(),
    parameters: plan.parameters,
    simSeconds: cluster.queue.nowUs / 1e6,
    history,
    stats: { ...stats, events: cluster.events, elections: safety.elections, ackedWrites: safety.acked.length },
    linearizability,
    convergedAfterHealUs: null,
    operations: [],
    replay: replayCommand(options),
  };
}

function classify(e: unknown, nowUs: number): Violation {
  return classifyError(e, nowUs, (err) => {
    if (err instanceof SafetyViolation) return { checker: err.checker, message: err.message, simTimeUs: err.simTimeUs };
    if (err instanceof LivenessError) return { checker: 'liveness', message: err.message, simTimeUs: nowUs };
    return null;
  });
}

function historyStats(history: readonly HistoryEvent[]): Record<string, number> {
  const out = { invoked: 0, ok: 0, fail: 0, info: 0 };
  for (const e of history) {
    if (e.type === 'invoke') out.invoked++;
    else out[e.type]++;
  }
  return out;
}
