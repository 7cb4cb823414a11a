// The orchestration run of `npm run bench -- sim`: the chaos suites' orchestration world
// (sim/orchestration/world.ts, with the Raft safety checker on every step and the orchestration
// checks the chaos runner gives it) at scale: 3 managers, 50 workers, 200 services, one simulated
// hour with the operator changing things all along (creates, updates, rollbacks, scaling, drains,
// removals), then the heal and convergence. The issue's target: the hour in under 60 wall seconds.
// Settings that differ from the chaos suites', each a production daemon's rather than a stress
// test's, and why:
// - no faults: a calm hour measures the control plane's own cost (the chaos seeds measure faults);
// - the leader reconciles every 5 ticks (500 ms) rather than every tick (100 ms): a production
//   leader reconciles on a timer of that order (the chaos suites use every tick to shorten the time
//   from a fault to the reaction); each pass reads every task in the store, so this sets the cost;
// - Raft tuned for production (snapshots every 10,000 entries, 1 MiB messages and snapshot chunks,
//   256 messages in flight) instead of the small values a chaos seed draws to exercise snapshots
//   and flow control;
// - 300 s of liveness bound: a global service's rolling update over 50 nodes takes about 50 s.
// A run that fails a check does not throw: it keeps its numbers and says what failed, with the seed.

import { newOrchestrationChecks } from '../chaos/checkers/orchestration.ts';
import { RaftSafetyChecker } from '../chaos/checkers/raft-safety.ts';
import { managerCount } from '../sim/orchestration/faults.ts';
import type { Tuning } from '../sim/nemesis.ts';
import { defaultWorldOptions, OrchestrationWorld, type OrchestrationResult } from '../sim/orchestration/world.ts';
import { integerParameters } from './parameters.ts';
import { round } from './timing.ts';

export interface OrchestrationBenchParameters {
  readonly seed: number;
  readonly workers: number;
  readonly services: number;
  /** Simulated seconds of the operator's changes; the heal and convergence follow. */
  readonly simSeconds: number;
  /** The leader's reconcile cadence, in 100 ms ticks. */
  readonly reconcileEveryTicks: number;
  readonly livenessBoundSeconds: number;
  readonly targetWallSeconds: number;
}

export const defaultOrchestrationParameters: OrchestrationBenchParameters = {
  seed: 1,
  workers: 50,
  services: 200,
  simSeconds: 3600,
  reconcileEveryTicks: 5,
  livenessBoundSeconds: 300,
  targetWallSeconds: 60,
};

/** Raft for production: rare snapshots, large batches (see the header). */
export const productionTuning: Partial<Tuning> = { snapshotEveryEntries: 10_000, maxMsgBytes: 1 << 20, maxInflightMsgs: 256, snapshotChunkBytes: 1 << 20 };

const tickMs = 100;

/** Defaults plus overrides, validated once: integers >= 1 (the seed may be 0). */
export function orchestrationParameters(overrides: Partial<OrchestrationBenchParameters>): OrchestrationBenchParameters {
  return integerParameters('sim orchestration', defaultOrchestrationParameters, overrides, ['seed']);
}

/** The world the run uses: the chaos suites' world with the settings above. */
export function orchestrationWorld(p: OrchestrationBenchParameters): OrchestrationWorld {
  return new OrchestrationWorld({
    ...defaultWorldOptions,
    seed: String(p.seed),
    workers: p.workers,
    services: p.services,
    durationUs: p.simSeconds * 1_000_000,
    faults: [],
    manager: { ...defaultWorldOptions.manager, reconcileEveryTicks: p.reconcileEveryTicks },
    tuning: productionTuning,
    livenessBoundUs: p.livenessBoundSeconds * 1_000_000,
    observer: new RaftSafetyChecker(),
    checks: newOrchestrationChecks(),
  });
}

export function runOrchestration(overrides: Partial<OrchestrationBenchParameters>, progress: (line: string) => void): Record<string, unknown> {
  const p = orchestrationParameters(overrides);
  const world = orchestrationWorld(p);
  progress(`sim: orchestration, ${managerCount} managers, ${p.workers} workers, ${p.services} services, ${p.simSeconds} simulated s, seed ${p.seed}`);
  const startMs = performance.now();
  let result: OrchestrationResult | null = null;
  let failure: string | null = null;
  try {
    result = world.run();
  } catch (error) {
    failure = `seed ${p.seed}: ${(error as Error).name}: ${(error as Error).message.slice(0, 500)}`;
  }
  const wallSeconds = (performance.now() - startMs) / 1000;
  const simSecondsTotal = world.queue.nowUs / 1e6;
  const leader = world.leader();
  progress(`sim: orchestration, ${round(simSecondsTotal, 1)} simulated s in ${round(wallSeconds, 1)} wall s${failure === null ? '' : `; failed: ${failure}`}`);
  return {
    managers: managerCount,
    workers: p.workers,
    services: p.services,
    simSeconds: p.simSeconds,
    simSecondsWithConvergence: round(simSecondsTotal, 1),
    wallSeconds: round(wallSeconds, 2),
    simSecondsPerWallSecond: round(simSecondsTotal / wallSeconds, 1),
    targetWallSeconds: p.targetWallSeconds,
    withinTarget: wallSeconds < p.targetWallSeconds,
    events: world.events,
    eventsPerWallSecond: Math.round(world.events / wallSeconds),
    reconcileEveryMs: p.reconcileEveryTicks * tickMs,
    reconcilePasses: world.managers.reduce((n, m) => n + m.reconcilePasses, 0),
    operatorGoals: world.operator.log.length,
    tasksInStore: leader?.state.tasks().length ?? null,
    convergedAfterHealSeconds: result === null ? null : result.convergedAfterHealUs / 1e6,
    traceHash: world.hash.hex(),
    failure,
    seed: p.seed,
    reconcileEveryTicks: p.reconcileEveryTicks,
    livenessBoundSeconds: p.livenessBoundSeconds,
  };
}

