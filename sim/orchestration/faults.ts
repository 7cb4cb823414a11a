// The orchestration world's fault plan: the key-value world's swarm plan (../nemesis.ts: network,
// disk, process, clock), drawn over every machine (managers first, then workers), plus a runtime
// class of its own: container pull and start failures, slow pulls and starts, crashes, OOM kills and
// flapping health, drawn per seed like the rest; and a load class: bursts of client requests beyond
// what the managers admit (./load.ts). Plain data: the same seed gives the same plan.

import { drawPlan, type FaultClassName, type FaultPlan } from '../nemesis.ts';
import type { Rng } from '../rng.ts';
import { calmRuntime, type RuntimeConfig } from '../runtime.ts';
import { drawLoadPlan, noLoad, type LoadPlan } from './load.ts';

/** Managers are machines 0..2 of every plan; workers follow. */
export const managerCount = 3;

export type OrchestrationFaultClass = FaultClassName | 'runtime' | 'load';

export const orchestrationFaultClasses: readonly OrchestrationFaultClass[] = ['network', 'disk', 'process', 'clock', 'runtime', 'load'];

export interface OrchestrationPlan {
  /** Machine numbers in its events: managers 0..M-1, then workers M..M+W-1. */
  readonly machines: FaultPlan;
  readonly runtime: RuntimeConfig;
  readonly load: LoadPlan;
  /** Of the crashes that hit a worker, the fraction that take the machine (the rest, only the agent). */
  readonly workerMachineCrashFraction: number;
  readonly parameters: Readonly<Record<string, number | string>>;
}

export function drawRuntimeConfig(rng: Rng): RuntimeConfig {
  return {
    pullLatencyMeanUs: rng.pick([20_000, 100_000, 500_000]),
    startLatencyMeanUs: rng.pick([10_000, 50_000, 300_000]),
    pullFailureRate: rng.pick([0, 0.05, 0.2]),
    startFailureRate: rng.pick([0, 0.02, 0.1]),
    crashMeanUs: rng.pick([0, 5_000_000, 20_000_000, 60_000_000]),
    oomFraction: rng.pick([0, 0.3, 1]),
    flappingHealthRate: rng.pick([0, 0.02, 0.1]),
  };
}

export function drawOrchestrationPlan(rng: Rng, machines: number, faults: readonly OrchestrationFaultClass[], durationUs: number): OrchestrationPlan {
  const machineFaults = faults.filter((f): f is FaultClassName => f !== 'runtime' && f !== 'load');
  const plan = drawPlan(rng.child('machines'), machines, machineFaults, durationUs);
  const runtime = faults.includes('runtime') ? drawRuntimeConfig(rng.child('runtime')) : calmRuntime;
  const workerMachineCrashFraction = rng.child('workers').pick([0, 0.5, 1]);
  const parameters: Record<string, number | string> = { ...plan.parameters, 'worker.machineCrashFraction': workerMachineCrashFraction };
  for (const [key, value] of Object.entries(runtime)) parameters[`runtime.${key}`] = value;
  const load = faults.includes('load') ? drawLoadPlan(rng.child('load'), durationUs) : noLoad;
  load.bursts.forEach((b, i) => {
    parameters[`load.burst${i + 1}`] = `${b.ratePerSecond}/s for ${b.durationUs / 1e6} s at ${b.atUs / 1e6} s`;
  });
  return { machines: plan, runtime, load, workerMachineCrashFraction, parameters };
}

/** The fault detail counts (nemesis, network, disks, runtimes, load) summed per fault class. */
export function classCounts(detail: Readonly<Record<string, number>>): Record<OrchestrationFaultClass, number> {
  const get = (key: string) => detail[key] ?? 0;
  const sumPrefix = (prefix: string, keys: readonly string[]) => keys.reduce((n, k) => n + get(`${prefix}${k}`), 0);
  return {
    network: get('drop') + get('duplicate') + get('reorder') + get('partitions'),
    disk: sumPrefix('disk.', ['tornWrite', 'bitFlip', 'lostWrites', 'full', 'slowSync']),
    process: get('managerCrash') + get('workerMachineCrash') + get('workerAgentCrash') + get('pause'),
    clock: get('drift') + get('clockJump'),
    runtime: sumPrefix('runtime.', ['pullFailure', 'startFailure', 'crash', 'oomKill', 'flappingHealth']),
    load: get('load.bursts'),
  };
}
