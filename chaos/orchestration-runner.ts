// The orchestration workload's seed runner: one seed → the orchestration world (three managers on
// Raft, `nodes` workers with agents and simulated runtimes, the operator, load clients, the nemesis)
// with the Raft safety checker watching every step and the orchestration checks run during the
// safety phase and at convergence after the heal → after the run, the load checker holds every
// answered client request against the converged store. Deterministic: the same options give the
// same result and trace hash, and every result carries the command that replays it.

import type { FaultPlan } from '../sim/nemesis.ts';
import { classCounts, drawOrchestrationPlan, managerCount, type OrchestrationFaultClass } from '../sim/orchestration/faults.ts';
import { defaultWorldOptions, OrchestrationLivenessError, OrchestrationSafetyError, OrchestrationWorld } from '../sim/orchestration/world.ts';
import { Rng } from '../sim/rng.ts';
import { plantBugs } from './bugs.ts';
import { loadProblems } from './checkers/load.ts';
import { newOrchestrationChecks } from './checkers/orchestration.ts';
import { RaftSafetyChecker, SafetyViolation } from './checkers/raft-safety.ts';
import { classifyError, replayCommand } from './replay.ts';
import type { ChaosOptions, SeedResult, Violation } from './types.ts';

const orchestrationClasses = (options: ChaosOptions): OrchestrationFaultClass[] => [...options.faults];

/** The machine fault plan a seed draws (before any mask): what the shrinker reduces. */
export function orchestrationPlanFor(options: ChaosOptions): FaultPlan {
  const rng = new Rng(String(options.seed));
  return drawOrchestrationPlan(rng.child('nemesis'), managerCount + options.nodes, orchestrationClasses(options), options.durationSimSeconds * 1_000_000).machines;
}

export function runOrchestrationSeed(options: ChaosOptions): SeedResult {
  const bugs = plantBugs(options.bugs);
  const safety = new RaftSafetyChecker();
  const world = new OrchestrationWorld({
    ...defaultWorldOptions,
    seed: String(options.seed),
    workers: options.nodes,
    durationUs: options.durationSimSeconds * 1_000_000,
    faults: orchestrationClasses(options),
    observer: safety,
    checks: newOrchestrationChecks(),
    bugs: bugs.orchestration,
    raftBugs: bugs.raft,
    ackBeforeSync: bugs.ackBeforeSync,
    pipelineEarlyReply: bugs.pipelineEarlyReply,
    mask: options.mask,
    trace: options.trace,
  });
  let violation: Violation | null = null;
  let convergedAfterHealUs: number | null = null;
  try {
    convergedAfterHealUs = world.run().convergedAfterHealUs;
    const leader = world.leader()!;
    const names = new Set(leader.state.secrets().map((s) => s.name));
    const problems = loadProblems(world.load.records, (name) => names.has(name));
    if (problems.length > 0) {
      violation = { checker: 'load', message: problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and more` : ''), simTimeUs: world.queue.nowUs };
      convergedAfterHealUs = null;
    }
  } catch (e) {
    violation = classify(e, world.queue.nowUs);
  }
  const detail = { ...world.nemesis.faultsFired(), ...world.load.counts() };
  return {
    seed: options.seed,
    violation,
    traceHash: world.hash.hex(),
    faultsFired: classCounts(detail),
    faultDetail: detail,
    parameters: world.plan.parameters,
    simSeconds: world.queue.nowUs / 1e6,
    history: [],
    stats: {
      events: world.events,
      elections: safety.elections,
      operatorGoals: world.operator.log.length,
      loadRequests: world.load.records.length,
      reconcilePasses: world.managers.reduce((n, m) => n + m.reconcilePasses, 0),
    },
    linearizability: 'not applicable',
    convergedAfterHealUs,
    operations: operations(world),
    replay: replayCommand(options),
  };
}

function classify(e: unknown, nowUs: number): Violation {
  return classifyError(e, nowUs, (err) => {
    if (err instanceof SafetyViolation) return { checker: err.checker, message: err.message, simTimeUs: err.simTimeUs };
    if (err instanceof OrchestrationSafetyError) return { checker: err.checker, message: err.message, simTimeUs: err.simTimeUs };
    if (err instanceof OrchestrationLivenessError) return { checker: 'convergence', message: err.message, simTimeUs: nowUs };
    return null;
  });
}

/** The operator's goals and the load clients' requests, merged in time order, as written by --history. */
function operations(world: OrchestrationWorld): Readonly<Record<string, unknown>>[] {
  const goals = world.operator.log.map((r) => ({ time: r.atUs, actor: 'operator', goal: r.goal, outcome: r.outcome, attempts: r.attempts, detail: r.detail }));
  const requests = world.load.records.map((r) => ({
    time: r.sentAtUs, actor: 'load', request: `secret-create ${r.name}`, to: r.to, outcome: r.outcome, code: r.code, error: r.error, answeredAt: r.answeredAtUs, retryAfterUs: r.retryAfterUs,
  }));
  return [...goals, ...requests].sort((a, b) => a.time - b.time);
}
