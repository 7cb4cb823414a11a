// The orchestration world's vocabulary: its options (with the defaults the chaos suites use), the
// result of a run, the error a liveness failure throws, and the events its queue holds.

import type { Message } from '../../core/raft/index.ts';
import type { RuntimeEvent } from '../../core/ports.ts';
import type { SyncToken } from '../disk.ts';
import type { Tuning } from '../nemesis.ts';
import type { SimObserver } from '../protocol.ts';
import type { RuntimeTicket } from '../runtime.ts';
import type { OrchestrationFaultClass } from './faults.ts';
import { defaultManagerConfig, type ManagerConfig } from './manager.ts';
import type { OrchestrationChecks } from './observe.ts';
import type { OperatorRecord } from './operator.ts';
import type { ManagerMessage, WorkerMessage } from './protocol.ts';
import { defaultReaperConfig, type ReaperConfig } from '../../core/reconciler/index.ts';
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
  readonly trace: ((line: string) => void) | null;
}

export const defaultWorldOptions = {
  worker: defaultWorkerConfig,
  // Restart backoff capped at 5 s (not 60 s), so a slot that crash-looped under the faults restarts
  // within the liveness bound once they heal.
  manager: { ...defaultManagerConfig, reconciler: { ...defaultManagerConfig.reconciler, maxRestartDelayUs: 5_000_000 } } as ManagerConfig,
  tuning: {} as Partial<Tuning>,
  reaper: defaultReaperConfig as ReaperConfig | null,
  workers: 6,
  services: 5,
  durationUs: 20_000_000,
  faults: [] as readonly OrchestrationFaultClass[],
  livenessBoundUs: 60_000_000,
  operatorEveryUs: 1_000_000,
  trace: null,
} satisfies Partial<OrchestrationWorldOptions>;

export class OrchestrationLivenessError extends Error {
  override readonly name = 'OrchestrationLivenessError';
}

export interface OrchestrationResult {
  readonly seed: string;
  readonly traceHash: string;
  /** Digest of the leader's store at the end. */
  readonly stateDigest: string;
  readonly events: number;
  readonly simSeconds: number;
  readonly convergedAfterHealUs: number;
  readonly firstUpdateProblem: { readonly atUs: number; readonly problem: string } | null;
  readonly updateProblems: number;
  readonly operator: readonly OperatorRecord[];
  readonly faultsFired: Readonly<Record<string, number>>;
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
  | { readonly type: 'reap' };

export const eventCodes: Record<WorldEvent['type'], number> = {
  tick: 1, deliver: 2, sync: 3, restart: 4, 'to-manager': 5, 'to-worker': 6, beat: 7, runtime: 8, wake: 9, fault: 10, heal: 11, operator: 12, sample: 13, reap: 14,
};
