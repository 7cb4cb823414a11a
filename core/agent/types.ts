// The agent's vocabulary: what the managers hand it (assignments), what it hands back (task
// reports), its typed configuration (validated once, with named bounds) and its status view.

import { assert } from '../assert.ts';
import type { ContainerSpec } from '../ports.ts';
import type { DesiredTaskState, HealthCheck, NodeId, RestartPolicy, Task, TaskId, TaskState } from '../state/types.ts';

/** One task the managers want on this node, with what the agent needs to run it. */
export interface Assignment {
  readonly task: Task;
  readonly container: ContainerSpec;
  readonly healthCheck: HealthCheck | null;
  readonly restartPolicy: RestartPolicy;
}

/** A task state change for the managers. `atUs` is the agent's time of the change. */
export type TaskReport = {
  readonly taskId: TaskId;
  readonly state: TaskState;
  readonly exitCode: number | null;
  readonly message: string;
  readonly atUs: number;
};

export interface AgentConfig {
  readonly nodeId: NodeId;
  /** The injected generator (restart jitter): a float in [0, 1), never an ambient source. */
  readonly random: () => number;
  /** Bound on reports waiting for the shell (or for the managers, while disconnected). */
  readonly maxReportsPending: number;
  /** Bound on tasks tracked at once; assignments beyond it are rejected. */
  readonly maxTasks: number;
  /** Bound on health probes in flight over all tasks (one per task at most, always). */
  readonly maxProbesInFlight: number;
  /** Cap of the doubling local restart delay (a policy delay above it is kept as is). */
  readonly maxRestartDelayMs: number;
  /** Restart delays are stretched by up to this fraction, drawn from `random`. */
  readonly restartJitterFraction: number;
  /** Grace for stopping a container the runtime holds that no assignment names. */
  readonly defaultStopGraceMs: number;
  /** Bound on the ids of finished tasks remembered so a stale snapshot cannot revive them. */
  readonly maxRetiredTasks: number;
  /**
   * The agent process restarted on a node whose runtime may still hold containers: it takes no
   * runtime action until adopt() has told it what the runtime holds, so nothing is duplicated.
   */
  readonly restarted: boolean;
  readonly connected: boolean;
}

export type AgentOptions = Partial<AgentConfig> & Pick<AgentConfig, 'nodeId' | 'random'>;

const isCount = (n: number): boolean => Number.isInteger(n) && n >= 1;

export function agentConfig(options: AgentOptions): AgentConfig {
  const config: AgentConfig = {
    maxReportsPending: 1024,
    maxTasks: 512,
    maxProbesInFlight: 64,
    maxRestartDelayMs: 60_000,
    restartJitterFraction: 0.1,
    defaultStopGraceMs: 10_000,
    maxRetiredTasks: 4096,
    restarted: false,
    connected: true,
    ...options,
  };
  assert(isCount(config.maxReportsPending), `maxReportsPending must be a positive integer, got ${config.maxReportsPending}`);
  assert(isCount(config.maxTasks), `maxTasks must be a positive integer, got ${config.maxTasks}`);
  assert(isCount(config.maxProbesInFlight), `maxProbesInFlight must be a positive integer, got ${config.maxProbesInFlight}`);
  assert(isCount(config.maxRetiredTasks), `maxRetiredTasks must be a positive integer, got ${config.maxRetiredTasks}`);
  assert(config.maxRestartDelayMs >= 0, `maxRestartDelayMs must be >= 0, got ${config.maxRestartDelayMs}`);
  assert(config.defaultStopGraceMs >= 0, `defaultStopGraceMs must be >= 0, got ${config.defaultStopGraceMs}`);
  assert(config.restartJitterFraction >= 0 && config.restartJitterFraction <= 1,
    `restartJitterFraction must be within [0, 1], got ${config.restartJitterFraction}`);
  return config;
}

/**
 * Where a task's container stands locally. Phases ending in -ing have exactly one runtime action in
 * flight; the others are idle and the agent decides the next step from them.
 *   new → pulling → pulled → creating → created → starting → running → stopping → exited → removing → gone
 */
export type TaskPhase =
  | 'new' | 'pulling' | 'pulled' | 'creating' | 'created' | 'starting' | 'running' | 'stopping' | 'exited' | 'removing' | 'gone';

export interface TaskLocalStatus {
  readonly taskId: TaskId;
  readonly phase: TaskPhase;
  /** The last state reported for the task (null before the first report). */
  readonly state: TaskState | null;
  /** What the managers want; null once the task left the assignments (or was never assigned). */
  readonly desiredState: DesiredTaskState | null;
  /** No further run will happen: the task reached its final state on this node. */
  readonly finished: boolean;
  readonly healthFailures: number;
  readonly probeInFlight: boolean;
  /** Restarts made locally while disconnected. */
  readonly restartsLocal: number;
  /** When the pending local restart is due, or null. */
  readonly restartAtUs: number | null;
}

export interface AgentStatus {
  readonly nodeId: NodeId;
  readonly connected: boolean;
  /** False while a restarted agent waits for adopt(). */
  readonly inventoryKnown: boolean;
  readonly reportsPending: number;
  readonly reportsDropped: number;
  readonly probesInFlight: number;
  readonly actionsPending: number;
  /** Sorted by task id. */
  readonly tasks: readonly TaskLocalStatus[];
}
