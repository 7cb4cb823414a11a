// `npm run bench -- sim`: how fast the simulated clusters run, in three measurements.
// 1. Fault-free throughput: simulated seconds (and simulated events) per wall second, with every
//    fault class off, so the number is the cost of the simulator and the code under test alone.
// 2. Chaos seed rate: full seeds (all faults, checkers and the linearizability verdict, exactly what
//    `warren chaos run` does) per wall minute, single-threaded, with the per-seed wall-time spread.
// Each phase first runs a few warm-up seeds that are not counted: on Node 20 the first three or so
// 60-second seeds run at a third to two thirds of the steady rate while the JIT compiles, so a
// single warm-up seed would still measure compilation.
// 3. The orchestration run (orchestration.ts): the chaos suites' orchestration world with 3
//    managers, 50 workers and 200 services for one simulated hour, in wall seconds (target: 60),
//    reported as the `orchestration` field.
// A seed that finds a violation is not thrown: it is counted and listed with its replay command
// (the orchestration run says what failed in its own `failure` field).

import { defaultChaosOptions, runSeed } from '../chaos/runner.ts';
import type { ChaosOptions, SeedResult } from '../chaos/types.ts';
import type { BenchmarkArgs } from './cli.ts';
import { defaultOrchestrationParameters, orchestrationParameters, runOrchestration, type OrchestrationBenchParameters } from './orchestration.ts';
import { integerParameters } from './parameters.ts';
import { round } from './timing.ts';

export interface SimBenchParameters {
  readonly nodes: number;
  readonly opsPerSecond: number;
  /** Simulated seconds of each seed's faulty phase (a liveness phase follows inside runSeed). */
  readonly durationSimSeconds: number;
  /** Counted fault-free seeds, after one warm-up seed. */
  readonly throughputSeeds: number;
  /** Counted all-faults seeds, after one warm-up seed. */
  readonly chaosSeeds: number;
  /** The first counted seed; counted seeds are firstSeed, firstSeed + 1, ... */
  readonly firstSeed: number;
  /** Uncounted seeds run before each phase (JIT warm-up). */
  readonly warmUpSeeds: number;
  /** The first warm-up seed; warm-up seeds lie outside the counted range. */
  readonly warmUpFirstSeed: number;
  readonly orchestration: OrchestrationBenchParameters;
}

/** What a caller may change: any field, and any field of the orchestration run. */
export type SimBenchOverrides = Partial<Omit<SimBenchParameters, 'orchestration'>> & { readonly orchestration?: Partial<OrchestrationBenchParameters> };

export const defaultSimParameters: SimBenchParameters = {
  nodes: 5,
  opsPerSecond: 100,
  durationSimSeconds: 60,
  throughputSeeds: 10,
  chaosSeeds: 200,
  firstSeed: 1,
  warmUpSeeds: 3,
  warmUpFirstSeed: 1_000_000,
  orchestration: defaultOrchestrationParameters,
};

/** A seed whose run found a violation: enough to replay and triage it. */
export interface FailingSeed {
  readonly seed: number;
  readonly faults: string;
  readonly checker: string;
  readonly message: string;
  readonly replay: string;
}

interface Timed {
  readonly result: SeedResult;
  readonly wallSeconds: number;
}

export async function run(args: BenchmarkArgs, overrides: SimBenchOverrides = {}): Promise<Record<string, unknown>> {
  const parameters = simParameters(overrides);
  const failing: FailingSeed[] = [];
  const throughput = measureThroughput(parameters, args.progress, failing);
  const chaos = measureChaos(parameters, args.progress, failing);
  const orchestration = runOrchestration(parameters.orchestration, args.progress);
  return {
    ...throughput,
    ...chaos,
    violations: failing.length,
    failingSeeds: failing,
    nodes: parameters.nodes,
    opsPerSecond: parameters.opsPerSecond,
    durationSimSeconds: parameters.durationSimSeconds,
    orchestration,
    node: process.version,
    heapUsedMb: round(process.memoryUsage().heapUsed / (1024 * 1024), 1),
  };
}

/** Defaults plus overrides, validated once: every field a positive integer (seed numbers and warm-up count may be 0), the orchestration run's too. */
export function simParameters(overrides: SimBenchOverrides): SimBenchParameters {
  const { orchestration, ...rest } = overrides;
  const parameters = {
    ...integerParameters('sim', defaultSimParameters, rest, ['firstSeed', 'warmUpFirstSeed', 'warmUpSeeds']),
    orchestration: orchestrationParameters(orchestration ?? {}),
  };
  const counted = Math.max(parameters.throughputSeeds, parameters.chaosSeeds);
  const warmUpLast = parameters.warmUpFirstSeed + parameters.warmUpSeeds - 1;
  if (parameters.warmUpSeeds > 0 && parameters.warmUpFirstSeed < parameters.firstSeed + counted && warmUpLast >= parameters.firstSeed) {
    throw new RangeError(`sim benchmark warm-up seeds ${parameters.warmUpFirstSeed}..${warmUpLast} must lie outside the counted seeds ${parameters.firstSeed}..${parameters.firstSeed + counted - 1}`);
  }
  return parameters;
}

function measureThroughput(parameters: SimBenchParameters, progress: (line: string) => void, failing: FailingSeed[]): Record<string, number> {
  const options = chaosOptions(parameters, []);
  warmUp(options, parameters, 'fault-free', progress);
  let simSeconds = 0;
  let events = 0;
  let wallSeconds = 0;
  for (let i = 0; i < parameters.throughputSeeds; i++) {
    const seed = parameters.firstSeed + i;
    const timed = timeSeed({ ...options, seed });
    simSeconds += timed.result.simSeconds;
    events += timed.result.stats.events ?? 0;
    wallSeconds += timed.wallSeconds;
    noteViolation(timed.result, 'none', failing);
    progress(`sim: fault-free seed ${seed} (${i + 1}/${parameters.throughputSeeds}): ${round(timed.result.simSeconds, 1)} sim s in ${round(timed.wallSeconds, 3)} wall s`);
  }
  return {
    simSecondsPerWallSecond: round(simSeconds / wallSeconds, 1),
    eventsPerWallSecond: Math.round(events / wallSeconds),
    throughputSeeds: parameters.throughputSeeds,
  };
}

function measureChaos(parameters: SimBenchParameters, progress: (line: string) => void, failing: FailingSeed[]): Record<string, number> {
  const options = chaosOptions(parameters, defaultChaosOptions.faults);
  warmUp(options, parameters, 'all-faults', progress);
  const wallSeconds: number[] = [];
  let unknownVerdicts = 0;
  const progressEvery = Math.max(1, Math.ceil(parameters.chaosSeeds / 10));
  for (let i = 0; i < parameters.chaosSeeds; i++) {
    const seed = parameters.firstSeed + i;
    const timed = timeSeed({ ...options, seed });
    wallSeconds.push(timed.wallSeconds);
    if (timed.result.linearizability.startsWith('unknown')) unknownVerdicts++;
    if (noteViolation(timed.result, 'all', failing)) progress(`sim: seed ${seed} found a violation: ${timed.result.violation?.message ?? ''}`);
    if ((i + 1) % progressEvery === 0) progress(`sim: all-faults seeds ${i + 1}/${parameters.chaosSeeds}`);
  }
  const meanWallSeconds = wallSeconds.reduce((sum, s) => sum + s, 0) / wallSeconds.length;
  return {
    seedsPerMinute: round(60 / meanWallSeconds, 1),
    wallSecondsPerSeedP50: round(percentile(wallSeconds, 0.5), 4),
    wallSecondsPerSeedP99: round(percentile(wallSeconds, 0.99), 4),
    wallSecondsPerSeedMax: round(Math.max(...wallSeconds), 4),
    chaosSeeds: parameters.chaosSeeds,
    linearizabilityUnknown: unknownVerdicts,
  };
}

function chaosOptions(parameters: SimBenchParameters, faults: ChaosOptions['faults']): ChaosOptions {
  return {
    ...defaultChaosOptions,
    nodes: parameters.nodes,
    opsPerSecond: parameters.opsPerSecond,
    durationSimSeconds: parameters.durationSimSeconds,
    faults,
  };
}

function warmUp(options: ChaosOptions, parameters: SimBenchParameters, phase: string, progress: (line: string) => void): void {
  for (let i = 0; i < parameters.warmUpSeeds; i++) {
    const seed = parameters.warmUpFirstSeed + i;
    const timed = timeSeed({ ...options, seed });
    progress(`sim: ${phase} warm-up seed ${seed}: ${round(timed.wallSeconds, 3)} wall s (not counted)`);
  }
}

function timeSeed(options: ChaosOptions): Timed {
  const startMs = performance.now();
  const result = runSeed(options);
  return { result, wallSeconds: (performance.now() - startMs) / 1000 };
}

/** Records the seed if its run found a violation; returns whether it did. */
function noteViolation(result: SeedResult, faults: string, failing: FailingSeed[]): boolean {
  if (result.violation === null) return false;
  failing.push({ seed: result.seed, faults, checker: result.violation.checker, message: result.violation.message, replay: result.replay });
  return true;
}

/** Nearest-rank percentile (q in (0, 1]) of a non-empty sample. */
export function percentile(sample: readonly number[], q: number): number {
  if (sample.length === 0) throw new RangeError('percentile of an empty sample');
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

