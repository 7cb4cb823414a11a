// The public surface of the reconciler.
export { reconcile } from './reconciler.ts';
export {
  defaultReconcilerConfig, validateReconcilerConfig, noOrchestrationBugs, LeaderTaskCache, type OrchestrationBugs, type ReconcileInput, type ReconcilerConfig,
} from './config.ts';
export { jitter, restartDecision, endedOnItsOwn, type RestartDecision } from './restart.ts';
export { defaultReaperConfig, reapableTasks, type ReaperConfig } from './history.ts';
