// The reconciler's typed configuration and its per-pass input, validated once at the edge.

import type { NodeId } from '../state/types.ts';

export interface ReconcilerConfig {
  /** A node not heard from for this long is marked down and its tasks are rescheduled. */
  readonly heartbeatTimeoutUs: number;
  /** Upper bound of the exponential restart backoff. */
  readonly maxRestartDelayUs: number;
  /** Jitter added to a restart delay, as a fraction of it (0..1). */
  readonly restartJitterFraction: number;
  /** Bound on tasks created, assigned or changed in one pass; the rest waits for the next. */
  readonly maxTasksPerPass: number;
}

export const defaultReconcilerConfig: ReconcilerConfig = {
  heartbeatTimeoutUs: 5_000_000,
  maxRestartDelayUs: 60_000_000,
  restartJitterFraction: 0.2,
  maxTasksPerPass: 1_000,
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
}

export function validateReconcilerConfig(config: ReconcilerConfig): ReconcilerConfig {
  const positive: (keyof ReconcilerConfig)[] = ['heartbeatTimeoutUs', 'maxRestartDelayUs', 'maxTasksPerPass'];
  for (const key of positive) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`reconciler ${key} must be a positive integer, got ${String(v)}`);
  }
  if (!(config.restartJitterFraction >= 0 && config.restartJitterFraction <= 1)) {
    throw new RangeError(`reconciler restartJitterFraction must be in [0, 1], got ${config.restartJitterFraction}`);
  }
  return config;
}
