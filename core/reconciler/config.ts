// The reconciler's typed configuration and its per-pass input, validated once at the edge.

import type { NodeId, TaskId } from '../state/types.ts';

/**
 * Plantable bugs of the orchestration control plane (the scheduler, the store's assignment check,
 * the reconciler and its leader). Each exists so that the chaos checkers can prove they catch it;
 * all are off in production and in clean chaos runs (core/raft/bugs.ts is the Raft core's).
 */
export interface OrchestrationBugs {
  /**
   * Drained nodes count as eligible for new tasks: the scheduler places tasks on them, and the
   * store's re-check of an assignment makes the same mistake (one mistake in both places).
   */
  readonly scheduleOnDrained: boolean;
  /** The rolling updater never compares failures with the update's max failure ratio: no pause, no rollback. */
  readonly ignoreMaxFailureRatio: boolean;
  /**
   * The leader keeps the tasks its service controllers manage in a cache of its own, primed from
   * its store when it takes over (before that store holds the previous leader's last entries) and
   * then fed only by its own task-create proposals: a task whose creation commits after the
   * takeover is unknown to it, so its slot is filled again and the task is never shut down.
   */
  readonly forgetTaskOnFailover: boolean;
  /** The slot-uniqueness check is off by one: a slot keeps up to two live tasks, so a second one is never shut down. */
  readonly doubleSlot: boolean;
  /** The rolling updater starts the next batch without waiting for the slots still in progress, so more than `parallelism` are down. */
  readonly ignoreParallelism: boolean;
  /**
   * The rebalancer never starts a move: a node that comes back (or a service skewed by its history)
   * stays as empty as it is while the other nodes carry its share of the tasks.
   */
  readonly noRebalance: boolean;
}

export const noOrchestrationBugs: OrchestrationBugs = {
  scheduleOnDrained: false,
  ignoreMaxFailureRatio: false,
  forgetTaskOnFailover: false,
  doubleSlot: false,
  ignoreParallelism: false,
  noRebalance: false,
};

/**
 * The task ids a leader's cache holds (planted bug forgetTaskOnFailover only): the store's tasks
 * when the leader took over, then the tasks its own passes created. Leader memory, never in the log.
 */
export class LeaderTaskCache {
  private readonly ids = new Set<TaskId>();

  constructor(tasks: readonly { readonly id: TaskId }[]) {
    for (const t of tasks) this.ids.add(t.id);
  }

  has(id: TaskId): boolean {
    return this.ids.has(id);
  }

  /** The tasks a pass of this leader proposed to create. */
  learn(created: readonly TaskId[]): void {
    for (const id of created) this.ids.add(id);
  }
}

export interface ReconcilerConfig {
  /** A node not heard from for this long is marked down and its tasks are rescheduled. */
  readonly heartbeatTimeoutUs: number;
  /** Upper bound of the exponential restart backoff. */
  readonly maxRestartDelayUs: number;
  /** Jitter added to a restart delay, as a fraction of it (0..1). */
  readonly restartJitterFraction: number;
  /** Bound on tasks created, assigned or changed in one pass; the rest waits for the next. */
  readonly maxTasksPerPass: number;
  /**
   * Rebalancing of replicated services (rebalance.ts): a converged service whose tasks are uneven
   * over its eligible nodes (the fullest has two or more above the emptiest that has room) moves
   * tasks, start-first, one slot at a time. Off, tasks stay where they were placed.
   */
  readonly rebalance: boolean;
  /** Moves in flight at once per service. */
  readonly rebalanceParallelism: number;
  /**
   * A service is rebalanced only once every node eligible for it has been unchanged this long (a
   * node that came back, was re-activated or relabelled waits it out, so a flapping node draws no
   * tasks), and a move that did not complete (its replacement failed, or was withdrawn) holds the
   * service's moves back this long.
   */
  readonly rebalanceCooldownUs: number;
  /** Planted bugs, for the chaos suites only. */
  readonly bugs: OrchestrationBugs;
}

export const defaultReconcilerConfig: ReconcilerConfig = {
  heartbeatTimeoutUs: 5_000_000,
  maxRestartDelayUs: 60_000_000,
  restartJitterFraction: 0.2,
  maxTasksPerPass: 1_000,
  rebalance: true,
  rebalanceParallelism: 1,
  rebalanceCooldownUs: 10_000_000,
  bugs: noOrchestrationBugs,
};

export interface ReconcileInput {
  readonly nowUs: number;
  /** A fresh unique id with the prefix, from the leader's injected generator. */
  readonly newId: (prefix: string) => string;
  /**
   * When the leader last heard from each node (heartbeats are kept in the leader's memory, not in
   * the log). A node the leader has not heard from since it took over counts from `leaderSinceUs`.
   */
  readonly lastSeenUs: (node: NodeId) => number | undefined;
  readonly leaderSinceUs: number;
  readonly config: ReconcilerConfig;
  /** The leader's task cache; given only when config.bugs.forgetTaskOnFailover is planted. */
  readonly taskCache?: LeaderTaskCache;
}

export function validateReconcilerConfig(config: ReconcilerConfig): ReconcilerConfig {
  const positive = ['heartbeatTimeoutUs', 'maxRestartDelayUs', 'maxTasksPerPass', 'rebalanceParallelism'] as const;
  for (const key of positive) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`reconciler ${key} must be a positive integer, got ${String(v)}`);
  }
  if (!Number.isSafeInteger(config.rebalanceCooldownUs) || config.rebalanceCooldownUs < 0) {
    throw new RangeError(`reconciler rebalanceCooldownUs must be an integer of at least 0, got ${String(config.rebalanceCooldownUs)}`);
  }
  if (!(config.restartJitterFraction >= 0 && config.restartJitterFraction <= 1)) {
    throw new RangeError(`reconciler restartJitterFraction must be in [0, 1], got ${config.restartJitterFraction}`);
  }
  if (typeof config.rebalance !== 'boolean') throw new RangeError(`reconciler rebalance must be true or false, got ${String(config.rebalance)}`);
  return config;
}
