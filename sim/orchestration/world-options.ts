// The orchestration world's vocabulary: its options (with the defaults the chaos suites use), the
// result of a run, the error a liveness failure throws, and the events its queue holds.

import { noBugs, type Message, type RaftBugs } from '../../core/raft/index.ts';
import type { RuntimeEvent } from '../../core/ports.ts';
import type { SyncToken } from '../disk.ts';
import type { Tuning } from '../nemesis.ts';
import type { SimObserver } from '../protocol.ts';
import type { RuntimeTicket } from '../runtime.ts';
import type { OrchestrationFaultClass } from './faults.ts';
import { defaultManagerConfig, type ManagerConfig } from './manager.ts';
import type { OrchestrationChecks } from './observe.ts';
import type { OperatorRecord } from './operator.ts';
import type { LoadRecord } from './load.ts';
import type { ManagerMessage, WorkerMessage } from '../../core/manager/worker-protocol.ts';
import { defaultReaperConfig, noOrchestrationBugs, type OrchestrationBugs, type ReaperConfig } from '../../core/reconciler/index.ts';
import { defaultWorkerConfig, type RuntimeOrigin, type WorkerConfig } from './worker.ts';

export interface OrchestrationWorldOptions {
  readonly seed: string;
  readonly workers: number;
  /** Services the operator creates at the start. */
  readonly services: number;
  /** Simulated length of the safety phase. */
  readonly durationUs: number;
  readonly faults: readonly OrchestrationFaultClass[];
  readonly observer: SimObserver;
  readonly checks: OrchestrationChecks;
  readonly livenessBoundUs: number;
  /** Mean pause between two operator goals. */
  readonly operatorEveryUs: number;
  readonly worker: WorkerConfig;
  readonly manager: ManagerConfig;
  /** Raft and host settings that replace the ones the plan draws (a benchmark fixes them). */
  readonly tuning: Partial<Tuning>;
  /** Task history compaction on the leader; null: the store keeps every task for ever. */
  readonly reaper: ReaperConfig | null;
  /** Planted bugs of the control plane, given to every manager (its reconciler, scheduler and store). */
  readonly bugs: OrchestrationBugs;
  /** Planted bugs of the managers' Raft, and of its Ready loop: acknowledging before the disk sync, replying before earlier writes (the key-value world's). */
  readonly raftBugs: RaftBugs;
  readonly ackBeforeSync: boolean;
  readonly pipelineEarlyReply: boolean;
  /** Which of the drawn machine fault events and rates stay on (shrinking); null: the whole plan. */
  readonly mask: { readonly events: readonly number[]; readonly rates: readonly string[] } | null;
  readonly trace: ((line: string) => void) | null;
}

export const defaultWorldOptions = {
  worker: defaultWorkerConfig,
  // Restart backoff capped at 5 s (not 60 s), so a slot that crash-looped under the faults restarts
  // within the liveness bound once they heal.
  // Client admission scaled to this six-worker cluster (a production manager admits more), so the
  // load class's bursts of 500 to 3,000 requests a second overload it.
  manager: {
    ...defaultManagerConfig,
    admission: { ratePerSecond: 200, burst: 50, maxInFlight: 64 },
    reconciler: { ...defaultManagerConfig.reconciler, maxRestartDelayUs: 5_000_000 },
  } as ManagerConfig,
  tuning: {} as Partial<Tuning>,
  reaper: defaultReaperConfig as ReaperConfig | null,
  bugs: noOrchestrationBugs as OrchestrationBugs,
  workers: 6,
  services: 5,
  durationUs: 20_000_000,
  faults: [] as readonly OrchestrationFaultClass[],
  livenessBoundUs: 60_000_000,
  operatorEveryUs: 1_000_000,
  raftBugs: noBugs as RaftBugs,
  ackBeforeSync: false,
  pipelineEarlyReply: false,
  mask: null,
  trace: null,
} satisfies Partial<OrchestrationWorldOptions>;

export class OrchestrationLivenessError extends Error {
  override readonly name = 'OrchestrationLivenessError';
}

/** A check that runs during the safety phase found a violation; `checker` names the check. */
export class OrchestrationSafetyError extends Error {
  override readonly name = 'OrchestrationSafetyError';
  constructor(readonly checker: string, message: string, readonly simTimeUs: number) {
    super(message);
  }
}

export interface OrchestrationResult {
  readonly seed: string;
  readonly traceHash: string;
  /** Digest of the leader's store at the end. */
  readonly stateDigest: string;
  readonly events: number;
  readonly simSeconds: number;
  readonly convergedAfterHealUs: number;
  readonly operator: readonly OperatorRecord[];
  readonly faultsFired: Readonly<Record<string, number>>;
  /** Every client request the load fault class sent, with its answer. */
  readonly load: readonly LoadRecord[];
  readonly parameters: Readonly<Record<string, number | string>>;
}

export type WorldEvent =
  | { readonly type: 'tick'; readonly node: number; readonly epoch: number }
  | { readonly type: 'deliver'; readonly to: number; readonly msg: Message }
  | { readonly type: 'sync'; readonly node: number; readonly epoch: number; readonly token: SyncToken }
  | { readonly type: 'restart'; readonly machine: number }
  | { readonly type: 'to-manager'; readonly to: number; readonly msg: WorkerMessage }
  | { readonly type: 'to-worker'; readonly to: number; readonly msg: ManagerMessage }
  | { readonly type: 'beat'; readonly worker: number; readonly epoch: number }
  | { readonly type: 'runtime'; readonly worker: number; readonly event: RuntimeEvent; readonly ticket: RuntimeTicket; readonly origin: RuntimeOrigin }
  | { readonly type: 'wake'; readonly worker: number; readonly epoch: number; readonly atUs: number }
  | { readonly type: 'fault'; readonly index: number }
  | { readonly type: 'heal' }
  | { readonly type: 'operator'; readonly token: number }
  | { readonly type: 'sample' }
  | { readonly type: 'reap' }
  | { readonly type: 'load'; readonly burst: number };

export const eventCodes: Record<WorldEvent['type'], number> = {
  tick: 1, deliver: 2, sync: 3, restart: 4, 'to-manager': 5, 'to-worker': 6, beat: 7, runtime: 8, wake: 9, fault: 10, heal: 11, operator: 12, sample: 13, reap: 14, load: 15,
};
