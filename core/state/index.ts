// The public surface of core/state, the replicated cluster store: its object model, its commands,
// validation (run before proposing), the store (the Raft state machine), snapshot/restore and the
// helpers controllers share with it (constraint evaluation, the task state machine, limits).

export type * from './types.ts';
export { commandShutdownCauses, noResources, shutdownCauses, terminalTaskStates } from './types.ts';
export type {
  ApplyResult, DesiredChange, NewTask, NodeCommand, ObjectCommand, PendingReason, ServiceCommand, StateCommand, StateCommandType,
  TaskAssignment, TaskCommand,
} from './commands.ts';
export { stateCommandTypes } from './commands.ts';
export type { StateError, StateErrorCode } from './errors.ts';
export { stateLimits } from './limits.ts';
export { validateCommand, validateServiceSpec } from './validate.ts';
export { claimForSpec } from './validate-tasks.ts';
export { isRolledBack } from './validate-services.ts';
export { domainCovers } from './validate-objects.ts';
export { ClusterState } from './store.ts';
export { noStoreBugs, type StoreBugs } from './bugs.ts';
export { snapshot, restore } from './snapshot.ts';
export { canonicalJson, encodeCommand, decodeCommand } from './codec.ts';
export type { StateView, TaskClaim } from './view.ts';
export { hostPortKey } from './view.ts';
export type { Constraint, ConstraintOperator } from './constraints.ts';
export { parseConstraint, isConstraint, nodeSatisfies, firstUnsatisfied } from './constraints.ts';
export { holdsClaim, isTerminal, isUnassigned, reportOutcome, reportableTaskStates, taskStates, type ReportOutcome } from './task-machine.ts';
export { addResources, fitsWithin } from './resources.ts';
