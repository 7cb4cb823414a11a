// What the checkers read: the leader's store beside what the runtimes actually run. The shape is the
// one chaos/checkers/orchestration.ts reads (OrchestrationSnapshot); sim cannot import chaos, so the
// world takes the checks as functions over this structurally identical type.

import { firstUnsatisfied, type ClusterState, type StateCommand, type StateView } from '../../core/state/index.ts';
import type { ClusterNode, NodeId, Service, Task, TaskId, Volume } from '../../core/state/types.ts';
import type { SimWorker } from './worker.ts';

export interface ClusterObservation {
  readonly services: readonly Service[];
  readonly nodes: readonly ClusterNode[];
  readonly tasks: readonly Task[];
  readonly volumes: readonly Volume[];
  /** Containers running on machines that are up. */
  readonly running: readonly { readonly nodeId: NodeId; readonly taskId: TaskId }[];
  readonly secretsDelivered: readonly { readonly nodeId: NodeId; readonly secret: string }[];
  eligible(node: ClusterNode, service: Service): boolean;
}

/** What a check that runs during the run found: which check (its name), and what was wrong. */
export interface CheckProblem {
  readonly checker: string;
  readonly message: string;
}

/** The checks the world runs, injected by the caller (the chaos checkers). */
export interface OrchestrationChecks {
  /** Every way the cluster differs from its desired state; empty once converged. */
  convergenceProblems(observation: ClusterObservation): string[];
  /** A rolling update taking more tasks down than it may, or null. */
  updateAvailabilityProblem(observation: ClusterObservation, service: Service): string | null;
  /** A command that took effect on a manager's store, checked against the store it left; or null. */
  appliedCommandProblem(command: StateCommand, after: StateView): CheckProblem | null;
  /** A leader's reconcile pass: the commands it decided, checked against the store it decided them on; or null. */
  reconcilePassProblem(state: StateView, commands: readonly StateCommand[]): CheckProblem | null;
}

/** A node may run a service's task: active, ready, and every constraint holds. */
export function eligible(node: ClusterNode, service: Service): boolean {
  return node.availability === 'active' && node.status === 'ready' && firstUnsatisfied(node, service.spec.placement.constraints) === null;
}

/** The whole cluster as it is now. */
export function observe(state: ClusterState, workers: readonly SimWorker[]): ClusterObservation {
  const running: { nodeId: NodeId; taskId: TaskId }[] = [];
  for (const w of workers) {
    if (!w.up) continue;
    for (const c of w.runtime.list()) if (c.state === 'running') running.push({ nodeId: w.id, taskId: c.taskId });
  }
  return { services: state.services(), nodes: state.nodes(), tasks: state.tasks(), volumes: state.volumes(), running, secretsDelivered: [], eligible };
}

/**
 * The observation for one service's checks: its own tasks, and which of them run (on machines that
 * are up), without listing every container of the cluster.
 */
export function observeService(state: ClusterState, workers: ReadonlyMap<NodeId, SimWorker>, service: Service): ClusterObservation {
  const tasks = state.tasksOfService(service.id);
  const running: { nodeId: NodeId; taskId: TaskId }[] = [];
  for (const t of tasks) {
    const w = t.nodeId === null ? undefined : workers.get(t.nodeId);
    if (w !== undefined && w.up && w.runtime.isRunning(t.id)) running.push({ nodeId: w.id, taskId: t.id });
  }
  return { services: [service], nodes: state.nodes(), tasks, volumes: state.volumes(), running, secretsDelivered: [], eligible };
}

/** A short digest of a string (FNV-1a, two lanes), to compare final stores across runs. */
export function digest(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ (c + 7 * i), 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}
