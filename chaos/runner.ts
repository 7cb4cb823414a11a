// The seed runner: one seed → its swarm-drawn fault plan → a simulated run with the Raft safety
// checker watching every step → the liveness phase → the linearizability verdict on the client
// history. Deterministic: the same options give the same result and trace hash. Every result carries
// the command that replays it.

import { InvariantError } from '../core/assert.ts';
import { Cluster, LivenessError } from '../sim/cluster.ts';
import { drawPlan, maskPlan, type FaultPlan } from '../sim/nemesis.ts';
import { Rng } from '../sim/rng.ts';
import { plantBugs } from './bugs.ts';
import { checkLinearizability } from './checkers/linearizability.ts';
import { RaftSafetyChecker, SafetyViolation } from './checkers/raft-safety.ts';
import type { HistoryEvent } from './history.ts';
import { formatMask } from './mask.ts';
import { faultClasses, type ChaosOptions, type FaultClass, type SeedResult, type Violation } from './types.ts';

export const defaultChaosOptions: ChaosOptions = {
  seed: 1,
  nodes: 5,
  faults: faultClasses,
  durationSimSeconds: 20,
  bugs: [],
  opsPerSecond: 100,
  mask: null,
  trace: null,
};

/** The plan a seed draws (before any mask): the shrinker enumerates its events and rates. */
export function planFor(options: ChaosOptions): FaultPlan {
  const rng = new Rng(String(options.seed));
  return drawPlan(rng.child('nemesis'), options.nodes, options.faults, options.durationSimSeconds * 1_000_000);
}

export function runSeed(options: ChaosOptions): SeedResult {
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
    faultsFired: cluster.faultsFired() as Record<FaultClass, number>,
    faultDetail: cluster.faultDetail(),
    parameters: plan.parameters,
    simSeconds: cluster.queue.nowUs / 1e6,
    history,
    stats: { ...stats, events: cluster.events, elections: safety.elections, ackedWrites: safety.acked.length },
    linearizability,
    replay: replayCommand(options),
  };
}

function classify(e: unknown, nowUs: number): Violation {
  if (e instanceof SafetyViolation) return { checker: e.checker, message: e.message, simTimeUs: e.simTimeUs };
  if (e instanceof LivenessError) return { checker: 'liveness', message: e.message, simTimeUs: nowUs };
  if (e instanceof InvariantError) return { checker: 'invariant', message: `assertion failed in the core: ${e.message}`, simTimeUs: nowUs };
  // Anything else thrown inside the simulated world is a crash of the code under test, also a bug.
  const err = e instanceof Error ? e : new Error(String(e));
  return { checker: 'crash', message: `${err.name}: ${err.message}${err.stack ? ` @ ${err.stack.split('\n')[1]?.trim() ?? ''}` : ''}`, simTimeUs: nowUs };
}

function historyStats(history: readonly HistoryEvent[]): Record<string, number> {
  const out = { invoked: 0, ok: 0, fail: 0, info: 0 };
  for (const e of history) {
    if (e.type === 'invoke') out.invoked++;
    else out[e.type]++;
  }
  return out;
}

export function replayCommand(options: ChaosOptions): string {
  const parts = ['warren chaos replay', `--seed ${options.seed}`];
  if (options.nodes !== defaultChaosOptions.nodes) parts.push(`--nodes ${options.nodes}`);
  const all = faultClasses.every((c) => options.faults.includes(c));
  parts.push(`--faults ${all ? 'all' : options.faults.length === 0 ? 'none' : options.faults.join(',')}`);
  if (options.durationSimSeconds !== defaultChaosOptions.durationSimSeconds) parts.push(`--duration ${options.durationSimSeconds}`);
  for (const bug of options.bugs) parts.push(`--inject-bug ${bug}`);
  if (options.mask) parts.push(`--shrink-mask '${formatMask(options.mask)}'`);
  return parts.join(' ');
}
