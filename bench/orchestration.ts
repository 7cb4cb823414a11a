// The orchestration world at scale: 3 managers, 50 workers, 200 services, one simulated hour, with
// the chaos checkers watching (Raft safety on every step, rolling-update availability every 100 ms,
// convergence after the heal). Target: the hour in under 60 wall seconds. Prints the wall time, the
// simulated rate and what the run did; a run that fails a check says so and keeps its numbers.
// Shaped like the registered benchmarks (it exports run(args)), and runnable on its own:
//   node --import tsx bench/orchestration.ts [--json] [--simSeconds=3600] [--faults=none|all]
//     [--reconcileEveryTicks=5] [--drawnTuning] [--noReaper] [--seed=1]

import { pathToFileURL } from 'node:url';
import { newOrchestrationChecks } from '../chaos/checkers/orchestration.ts';
import { RaftSafetyChecker } from '../chaos/checkers/raft-safety.ts';
import { orchestrationFaultClasses } from '../sim/orchestration/faults.ts';
import { defaultWorldOptions, OrchestrationWorld } from '../sim/orchestration/world.ts';
import type { BenchmarkArgs } from './cli.ts';

export interface OrchestrationBenchParameters {
  readonly seed: string;
  readonly workers: number;
  readonly services: number;
  readonly simSeconds: number;
  readonly faults: 'none' | 'all';
  /** The leader's reconcile cadence in 100 ms ticks (the chaos suites use 1). */
  readonly reconcileEveryTicks: number;
  /** Keep the Raft tuning the seed draws (small snapshots and batches) instead of production values. */
  readonly drawnTuning: boolean;
  readonly noReaper: boolean;
  /** A global service's update over 50 nodes takes about 50 s: more room than the chaos suites' 60 s. */
  readonly livenessBoundSeconds: number;
  readonly targetWallSeconds: number;
}

export const defaultOrchestrationBenchParameters: OrchestrationBenchParameters = {
  seed: '1',
  workers: 50,
  services: 200,
  simSeconds: 3600,
  faults: 'none',
  reconcileEveryTicks: 5,
  drawnTuning: false,
  noReaper: false,
  livenessBoundSeconds: 300,
  targetWallSeconds: 60,
};

/** Production-like Raft settings: snapshots every 10,000 entries, large batches. */
const productionTuning = { snapshotEveryEntries: 10_000, maxMsgBytes: 1 << 20, maxInflightMsgs: 256, snapshotChunkBytes: 1 << 20 };

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

export async function run(args: BenchmarkArgs, overrides: Partial<OrchestrationBenchParameters> = {}): Promise<Record<string, unknown>> {
  const p: OrchestrationBenchParameters = { ...defaultOrchestrationBenchParameters, ...overrides };
  const world = new OrchestrationWorld({
    ...defaultWorldOptions,
    seed: p.seed,
    workers: p.workers,
    services: p.services,
    durationUs: p.simSeconds * 1_000_000,
    faults: p.faults === 'all' ? orchestrationFaultClasses : [],
    manager: { ...defaultWorldOptions.manager, reconcileEveryTicks: p.reconcileEveryTicks },
    tuning: p.drawnTuning ? {} : productionTuning,
    reaper: p.noReaper ? null : defaultWorldOptions.reaper,
    livenessBoundUs: p.livenessBoundSeconds * 1_000_000,
    observer: new RaftSafetyChecker(),
    checks: newOrchestrationChecks(),
  });
  args.progress(`orchestration: ${p.workers} workers, ${p.services} services, ${p.simSeconds} simulated s, faults ${p.faults}, seed ${p.seed}`);
  const startMs = performance.now();
  let failure: string | null = null;
  let result: ReturnType<OrchestrationWorld['run']> | null = null;
  try {
    result = world.run();
  } catch (error) {
    failure = `${(error as Error).name}: ${(error as Error).message.slice(0, 500)}`;
  }
  const wallSeconds = (performance.now() - startMs) / 1000;
  const simSeconds = world.queue.nowUs / 1e6;
  const leader = world.leader();
  return {
    wallSeconds: round(wallSeconds, 1),
    targetWallSeconds: p.targetWallSeconds,
    withinTarget: wallSeconds < p.targetWallSeconds,
    simSeconds: round(simSeconds, 1),
    simSecondsPerWallSecond: round(simSeconds / wallSeconds, 1),
    events: world.events,
    eventsPerWallSecond: Math.round(world.events / wallSeconds),
    convergedAfterHealSeconds: result === null ? null : result.convergedAfterHealUs / 1e6,
    operatorGoals: world.operator.log.length,
    tasksInStore: leader?.state.tasks().length ?? null,
    reconcilePasses: leader?.reconcilePasses ?? null,
    failure,
    parameters: p,
    heapUsedMb: round(process.memoryUsage().heapUsed / (1024 * 1024), 1),
  };
}

/** `--json`, `--flag` and `--key=value` into overrides of the defaults. */
export function parseArgs(argv: readonly string[]): { json: boolean; overrides: Partial<OrchestrationBenchParameters> } {
  const overrides: Record<string, unknown> = {};
  let json = false;
  for (const arg of argv) {
    const match = /^--([A-Za-z]+)(?:=(.*))?$/.exec(arg);
    if (match === null) throw new RangeError(`unexpected argument ${arg}; expected --key=value or --flag`);
    const [, key, value] = match as unknown as [string, string, string | undefined];
    if (key === 'json') json = true;
    else if (!Object.hasOwn(defaultOrchestrationBenchParameters, key)) throw new RangeError(`unknown parameter --${key}; known: ${Object.keys(defaultOrchestrationBenchParameters).join(', ')}`);
    else if (value === undefined) overrides[key] = true;
    else overrides[key] = typeof defaultOrchestrationBenchParameters[key as keyof OrchestrationBenchParameters] === 'number' ? Number(value) : value;
  }
  return { json, overrides: overrides as Partial<OrchestrationBenchParameters> };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { json, overrides } = parseArgs(process.argv.slice(2));
  const results = await run({ json, progress: (line) => process.stderr.write(`${line}\n`) }, overrides);
  process.stdout.write(json ? `${JSON.stringify({ benchmark: 'orchestration', ...results, node: process.version })}\n` : `${Object.entries(results).map(([k, v]) => `${k.padEnd(26)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n')}\n`);
}
