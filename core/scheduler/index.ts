// The public surface of the scheduler: placement as pure functions of (cluster view, service,
// tasks) to decisions, the constraint language, the view it reads, the global-service plan, and
// the moves that rebalance a replicated service.
export { schedule, maxBatchTasks } from './scheduler.ts';
export type { Decision } from './scheduler.ts';
export { PassScheduler, defaultPassSchedulerOptions, type PassSchedulerOptions } from './pass.ts';
export { Rebalancer, type RebalanceMove } from './rebalance.ts';
export {
  parseConstraint, parseConstraints, parseSpread, matches, matchesAll, attributeValue, isLabelKey, constraintForms, preferenceForms,
  constraintLimits, labelKeyRule,
} from './constraints.ts';
export type { Constraint, ConstraintError, ConstraintOperator, NodeAttribute, SpreadPreference } from './constraints.ts';
export { MemoryView, holdsNode } from './view.ts';
export type { SchedulerView, MemoryViewInput, ViewTask } from './view.ts';
export { planGlobal, globalEligibleNodes, globalRemovalCause, isLiveGlobalTask } from './global.ts';
export type { GlobalPlan, GlobalRemoval, GlobalRemovalCause } from './global.ts';
export { formatCpu, formatMemory, noSchedulerBugs, type SchedulerBugs } from './filters.ts';
