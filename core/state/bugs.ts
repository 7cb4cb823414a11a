// Plantable bugs of the store's own checks. Each exists so that the chaos checkers can prove they
// catch it; all are off in production and in clean chaos runs. core/reconciler's OrchestrationBugs
// carries the same flags (a store is given them by the manager that hosts it).

export interface StoreBugs {
  /**
   * The re-check of an assignment takes a drained node for one that accepts new tasks: the same
   * mistake as the scheduler's under this flag, so a bad placement is not refused.
   */
  readonly scheduleOnDrained: boolean;
}

export const noStoreBugs: StoreBugs = { scheduleOnDrained: false };
