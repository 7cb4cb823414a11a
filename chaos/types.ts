// The vocabulary shared by the chaos runner, its checkers, the CLI and the benchmarks: which fault
// classes exist, what one seed's run is asked to do, and what it reports.

import type { HistoryEvent } from './history.ts';

/** The workloads a chaos run can drive: key-value clients on Raft, or the orchestrator. */
export const workloads = ['kv', 'orchestration'] as const;
export type Workload = (typeof workloads)[number];

/** The machine fault classes, which every workload has. */
export const faultClasses = ['network', 'disk', 'process', 'clock'] as const;
/** Every fault class: the machine classes, then container runtime faults and client load bursts. */
export const allFaultClasses = [...faultClasses, 'runtime', 'load'] as const;
export type FaultClass = (typeof allFaultClasses)[number];

/** The fault classes each workload has (`--faults all` means these). */
export const workloadFaultClasses: Readonly<Record<Workload, readonly FaultClass[]>> = {
  kv: faultClasses,
  orchestration: allFaultClasses,
};

export interface ChaosOptions {
  readonly seed: number;
  readonly workload: Workload;
  /** Raft nodes (kv), or worker machines beside the three managers (orchestration). */
  readonly nodes: number;
  readonly faults: readonly FaultClass[];
  /** Simulated seconds of the faulty (safety) phase; a healed liveness phase follows. */
  readonly durationSimSeconds: number;
  /** Names from the bug catalog (chaos/bugs.ts) to plant; empty in clean runs. */
  readonly bugs: readonly string[];
  /** Client operations per simulated second, across all clients. */
  readonly opsPerSecond: number;
  /** Shrinking's reduction of the seed's fault plan; null runs the full plan. */
  readonly mask: FaultMask | null;
  /** Called with one line per simulated event (replay --trace). */
  readonly trace: ((line: string) => void) | null;
}

/** Which parts of a seed's drawn fault plan stay on: scheduled fault events by number, and rates by name. */
export interface FaultMask {
  readonly events: readonly number[];
  readonly rates: readonly string[];
}

export interface Violation {
  /** The checker that found it: raft-safety, linearizability, liveness, durability, invariant. */
  readonly checker: string;
  readonly message: string;
  readonly simTimeUs: number;
}

export interface SeedResult {
  readonly seed: number;
  readonly violation: Violation | null;
  /** Hex hash of every simulated event in order: same seed and options, same hash. */
  readonly traceHash: string;
  /** How often each of the workload's fault classes actually fired. */
  readonly faultsFired: Readonly<Partial<Record<FaultClass, number>>>;
  /** Finer counts: drop, duplicate, partition, crash, tornWrite, ... */
  readonly faultDetail: Readonly<Record<string, number>>;
  /** The swarm parameters drawn for this seed, printed with a failure. */
  readonly parameters: Readonly<Record<string, number | string>>;
  readonly simSeconds: number;
  readonly history: readonly HistoryEvent[];
  readonly stats: Readonly<Record<string, number>>;
  /** The linearizability verdict: ok, violation or unknown (never a silent pass); kv only. */
  readonly linearizability: string;
  /** Orchestration: simulated microseconds from the heal to the desired state; null otherwise or when it failed. */
  readonly convergedAfterHealUs: number | null;
  /** Orchestration: the operator's goals and the load clients' requests with their answers, in time order. */
  readonly operations: readonly Readonly<Record<string, unknown>>[];
  /** The command that replays this run exactly. */
  readonly replay: string;
}
