// Orchestration checkers. After faults heal and the cluster converges, desired state must hold:
// exactly N running tasks per replicated service, each slot filled once; one per eligible node for
// global services; nothing running on a down or drained node; volume-bound tasks on the volume's
// node; secrets only on nodes that run a task using them; no task running a spec version its
// service never had (and, once converged, every task on the current one); and each replicated
// service's tasks even over the nodes eligible for it, within one (rebalancing). During the run, a
// rolling update must never take more tasks down than its parallelism allows, no task may be
// assigned to a drained node, and an update whose failures exceed its ratio must take its failure
// action (checked on the managers' own work: each command applied, each reconcile pass).
// The input is a plain snapshot of the store and of what the runtimes actually run, so the same
// checks serve the simulator and real clusters.

import type { ClusterNode, NodeId, Service, ServiceId, Task, TaskId, Volume } from '../../core/state/types.ts';
import { terminalTaskStates } from '../../core/state/types.ts';
import type { StateCommand, StateView } from '../../core/state/index.ts';
import type { CheckProblem, OrchestrationChecks } from '../../sim/orchestration/observe.ts';

export interface RunningContainer {
  readonly nodeId: NodeId;
  readonly taskId: TaskId;
}

export interface DeliveredSecret {
  readonly nodeId: NodeId;
  readonly secret: string;
}

export interface OrchestrationSnapshot {
  readonly services: readonly Service[];
  readonly nodes: readonly ClusterNode[];
  readonly tasks: readonly Task[];
  readonly volumes: readonly Volume[];
  /** What the runtimes report running, on nodes that are up. */
  readonly running: readonly RunningContainer[];
  readonly secretsDelivered: readonly DeliveredSecret[];
  /** Whether the service may run on the node (availability, status and constraints). */
  eligible(node: ClusterNode, service: Service): boolean;
}

/** Every way the converged cluster differs from its desired state; empty when it matches. */
export function convergenceProblems(s: OrchestrationSnapshot): string[] {
  const problems: string[] = [];
  const taskById = new Map(s.tasks.map((t) => [t.id, t]));
  const nodeById = new Map(s.nodes.map((n) => [n.id, n]));
  const serviceById = new Map(s.services.map((x) => [x.id, x]));
  const runningByService = new Map<ServiceId, { task: Task; nodeId: NodeId }[]>();
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    if (!task) {
      problems.push(`container of unknown task ${r.taskId} runs on ${r.nodeId}`);
      continue;
    }
    if (task.nodeId !== r.nodeId) problems.push(`task ${task.id} runs on ${r.nodeId} but is assigned to ${task.nodeId}`);
    const node = nodeById.get(r.nodeId);
    if (node && node.status === 'down') problems.push(`task ${task.id} runs on down node ${node.id}`);
    if (node && node.availability === 'drain') problems.push(`task ${task.id} runs on drained node ${node.id}`);
    const list = runningByService.get(task.serviceId) ?? [];
    list.push({ task, nodeId: r.nodeId });
    runningByService.set(task.serviceId, list);
  }
  for (const service of s.services) {
    const running = runningByService.get(service.id) ?? [];
    runningByService.delete(service.id);
    problems.push(...serviceProblems(s, service, running, nodeById, serviceById));
  }
  for (const [serviceId, running] of [...runningByService.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    problems.push(`${running.length} task(s) of removed service ${serviceId} still run`);
  }
  problems.push(...volumeProblems(s, taskById, serviceById));
  problems.push(...secretProblems(s, taskById, serviceById));
  return problems;
}

function serviceProblems(
  s: OrchestrationSnapshot,
  service: Service,
  running: { task: Task; nodeId: NodeId }[],
  nodeById: Map<NodeId, ClusterNode>,
  serviceById: Map<ServiceId, Service>,
): string[] {
  const problems: string[] = [];
  const name = `service ${service.spec.name} (${service.id})`;
  for (const { task } of running) {
    if (task.specVersion > service.specVersion) problems.push(`${name}: task ${task.id} runs spec version ${task.specVersion}, newer than the service's ${service.specVersion}`);
    else if (task.specVersion !== service.specVersion) problems.push(`${name}: task ${task.id} still runs spec version ${task.specVersion}, not ${service.specVersion}`);
  }
  if (service.spec.mode.type === 'replicated') {
    const want = service.spec.mode.replicas;
    if (running.length !== want) problems.push(`${name}: ${running.length} running tasks, want ${want}`);
    const bySlot = new Map<number, number>();
    for (const { task } of running) bySlot.set(task.slot ?? -1, (bySlot.get(task.slot ?? -1) ?? 0) + 1);
    for (const [slot, count] of [...bySlot.entries()].sort((a, b) => a[0] - b[0])) {
      if (count > 1) problems.push(`${name}: slot ${slot} has ${count} running tasks`);
      if (slot < 1 || slot > want) problems.push(`${name}: a task runs in slot ${slot}, outside 1..${want}`);
    }
    if (problems.length === 0) {
      const uneven = balanceProblem(s, service, running, serviceById);
      if (uneven !== null) problems.push(`${name}: ${uneven}`);
    }
    return problems;
  }
  const perNode = new Map<NodeId, number>();
  for (const { nodeId } of running) perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
  for (const node of s.nodes) {
    const count = perNode.get(node.id) ?? 0;
    const eligible = s.eligible(node, service);
    if (eligible && count !== 1) problems.push(`${name}: ${count} running tasks on eligible node ${node.id}, want 1`);
    if (!eligible && count > 0) problems.push(`${name}: ${count} running task(s) on ineligible node ${node.id}`);
  }
  for (const nodeId of perNode.keys()) if (!nodeById.has(nodeId)) problems.push(`${name}: a task runs on unknown node ${nodeId}`);
  return problems;
}

/**
 * A replicated service that is otherwise as desired runs evenly over the nodes eligible for it: the
 * eligible node running most of its tasks runs at most one more than the eligible node running
 * fewest among those with room for one more (free resources for its reservations, its host ports
 * free), as rebalancing leaves it (core/reconciler/rebalance.ts). Not checked for a service with
 * volumes (its tasks stay with their data), nor while any of its tasks runs on a node that is not
 * eligible (other problems, or a paused node that keeps what it runs).
 */
function balanceProblem(s: OrchestrationSnapshot, service: Service, running: readonly { task: Task; nodeId: NodeId }[], serviceById: Map<ServiceId, Service>): string | null {
  if (service.spec.mode.type !== 'replicated' || service.spec.mounts.length > 0 || running.length === 0) return null;
  const perNode = new Map<NodeId, number>();
  for (const { nodeId } of running) perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
  let fullest: ClusterNode | null = null;
  let emptiest: ClusterNode | null = null;
  const count = (node: ClusterNode) => perNode.get(node.id) ?? 0;
  let onEligible = 0;
  for (const node of s.nodes) {
    if (!s.eligible(node, service)) continue;
    onEligible += count(node);
    if (fullest === null || count(node) > count(fullest)) fullest = node;
    if (hasRoom(s, node, service, serviceById) && (emptiest === null || count(node) < count(emptiest))) emptiest = node;
  }
  if (onEligible !== running.length || fullest === null || emptiest === null || count(fullest) - count(emptiest) < 2) return null;
  return `uneven over its eligible nodes: ${count(fullest)} running tasks on ${fullest.id}, ${count(emptiest)} on ${emptiest.id}, which has room for more; want every count within one of the others`;
}

/** Whether one more task of the service fits on the node, by the store's reservations and host ports. */
function hasRoom(s: OrchestrationSnapshot, node: ClusterNode, service: Service, serviceById: Map<ServiceId, Service>): boolean {
  const needs = service.spec.reservations;
  if (node.resources.cpuMillis - node.reserved.cpuMillis < needs.cpuMillis) return false;
  if (node.resources.memoryBytes - node.reserved.memoryBytes < needs.memoryBytes) return false;
  const ports = service.spec.ports.filter((p) => p.mode === 'host' && p.published !== 0);
  if (ports.length === 0) return true;
  for (const t of s.tasks) {
    if (t.nodeId !== node.id || t.observedState === 'new' || t.observedState === 'pending' || terminalTaskStates.has(t.observedState)) continue;
    const other = serviceById.get(t.serviceId);
    if (other?.spec.ports.some((q) => q.mode === 'host' && ports.some((p) => p.published === q.published && p.protocol === q.protocol))) return false;
  }
  return true;
}

function volumeProblems(s: OrchestrationSnapshot, taskById: Map<TaskId, Task>, serviceById: Map<ServiceId, Service>): string[] {
  const problems: string[] = [];
  const volumeNode = new Map(s.volumes.map((v) => [v.name, v.nodeId]));
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    const service = task && serviceById.get(task.serviceId);
    if (!service) continue;
    for (const mount of service.spec.mounts) {
      const bound = volumeNode.get(mount.volume);
      if (bound !== undefined && bound !== r.nodeId) problems.push(`task ${r.taskId} mounts volume ${mount.volume} on ${r.nodeId}, but the volume lives on ${bound}`);
    }
  }
  return problems;
}

function secretProblems(s: OrchestrationSnapshot, taskById: Map<TaskId, Task>, serviceById: Map<ServiceId, Service>): string[] {
  const needed = new Set<string>();
  for (const r of s.running) {
    const task = taskById.get(r.taskId);
    const service = task && serviceById.get(task.serviceId);
    if (service) for (const ref of service.spec.secrets) needed.add(`${r.nodeId}\u0000${ref.secret}`);
  }
  const problems: string[] = [];
  for (const d of s.secretsDelivered) {
    if (!needed.has(`${d.nodeId}\u0000${d.secret}`)) problems.push(`secret ${d.secret} is on node ${d.nodeId}, which runs no task that uses it`);
  }
  return problems;
}

const notYetStarted: ReadonlySet<string> = new Set(['new', 'pending', 'assigned', 'starting']);

/**
 * Watches rolling updates as they happen: while a replicated service is updating (or rolling back),
 * the slots the updater has taken down must never exceed its parallelism. Only the updater's own
 * shutdowns count, told apart by the cause the store keeps on each task (see slotDownForUpdate):
 * slots scaled down, drained, ended by a fault, taken down by an earlier update (superseded by this
 * one or by its rollback), or restarting an updated task that failed (which counts against the
 * update's failure ratio instead) are down, but not by this update. Call it whenever tasks change.
 */
export function updateAvailabilityProblem(s: OrchestrationSnapshot, service: Service): string | null {
  if (service.spec.mode.type !== 'replicated') return null;
  const status = service.updateStatus;
  if (status === null || (status.state !== 'updating' && status.state !== 'rolling-back')) return null;
  const config = status.state === 'updating' ? service.spec.update : service.spec.rollback;
  const replicas = service.spec.mode.replicas;
  const parallelism = config.parallelism === 0 ? replicas : config.parallelism;
  const runningTasks = new Set(s.running.map((r) => r.taskId));
  const slots = new Map<number, Task[]>();
  for (const t of s.tasks) {
    if (t.serviceId !== service.id || t.slot === null || t.slot < 1 || t.slot > replicas) continue;
    const list = slots.get(t.slot) ?? [];
    list.push(t);
    slots.set(t.slot, list);
  }
  const down: number[] = [];
  for (const [slot, tasks] of slots) {
    if (!tasks.some((t) => runningTasks.has(t.id)) && slotDownForUpdate(tasks, service, status.startedAtUs)) down.push(slot);
  }
  if (down.length <= parallelism) return null;
  const what = status.state === 'updating' ? 'update' : 'rollback';
  return `service ${service.spec.name} (${service.id}): the ${config.order} ${what} has ${down.length} slots down at once (slots ${down.sort((a, b) => a - b).join(', ')}); its parallelism allows ${parallelism}`;
}

/**
 * Whether a slot in which nothing runs is down because the update that started at `sinceUs` took it
 * down: some task D of the slot was shut down by this update (cause `update`, at or after its start)
 * while it was the slot's only live task, and since then the slot got nothing but, at most, D's
 * replacement, still to start (current spec version, wanted running). A slot whose running task
 * the update stopped only beside its started replacement (start-first) was never down by it.
 */
function slotDownForUpdate(tasks: readonly Task[], service: Service, sinceUs: number): boolean {
  for (const d of tasks) {
    if (d.shutdownCause !== 'update' || d.shutdownAtUs === null || d.shutdownAtUs < sinceUs) continue;
    const atUs = d.shutdownAtUs;
    // D's replacement (or nothing) came after it; no other task was live beside it.
    let after: Task | null = null;
    let alone = true;
    for (const t of tasks) {
      if (t === d) continue;
      if (t.createdAtUs >= atUs) {
        alone &&= after === null;
        after = t;
      } else if (liveAt(t, atUs)) {
        alone = false;
      }
    }
    if (!alone) continue;
    if (after === null || (after.specVersion === service.specVersion && after.desiredState === 'running' && notYetStarted.has(after.observedState))) return true;
  }
  return false;
}

/** Whether a task created before `atUs` was still live then: not yet asked to shut down, not yet ended. */
function liveAt(t: Task, atUs: number): boolean {
  if (t.shutdownAtUs !== null && t.shutdownAtUs <= atUs) return false;
  return !(terminalTaskStates.has(t.observedState) && t.updatedAtUs <= atUs);
}

// ---- Checks on the managers' work during the run (the simulator calls them on every command a
// store applies and on every reconcile pass; newOrchestrationChecks bundles them for a world) ----

/** The parts of the cluster store the checks below read (core/state's StateView has them). */
export type StoreReader = Pick<StateView, 'node' | 'task' | 'service' | 'services' | 'tasksOfService'>;

export const drainedAssignmentChecker = 'no-new-task-on-drained-node';

/**
 * A drained (or paused) node takes no new task: an assignment that took effect on one is a
 * violation, whatever placed it (the scheduler filters such nodes out and the store re-checks).
 * Read on the store the assignment left, whose nodes are as they were when it applied (assigning
 * changes no node), so a drain committed just after an assignment (a legitimate race: the task is
 * then moved off) is never taken for one before it; and the tasks an agent cut off by a partition
 * keeps running on a drained node are not assignments.
 */
export function drainedAssignmentProblem(command: StateCommand, after: StoreReader): CheckProblem | null {
  if (command.type !== 'task-assign') return null;
  for (const { taskId, nodeId } of command.assignments) {
    const node = after.node(nodeId);
    if (node === null || node.availability === 'active') continue;
    const task = after.task(taskId);
    const availability = node.availability === 'drain' ? 'drained' : 'paused';
    return {
      checker: drainedAssignmentChecker,
      message: `task ${taskId}${task === null ? '' : ` (${taskPlace(task, after.service(task.serviceId))})`} was assigned to node ${node.id}, which is ${availability} and takes no new tasks`,
    };
  }
  return null;
}

export const updateFailureActionChecker = 'update-failure-action';

/**
 * A rolling update (or rollback) whose failed tasks exceed its max failure ratio takes its failure
 * action: the reconcile pass that sees the failures pauses it or rolls it back (a failing rollback
 * pauses), and does not carry on. Checked against the store the pass was decided on, so failures
 * that reach the store after the pass never count against it. Counted as the update config defines
 * it: tasks of the current spec version created since the update started, in slots 1..replicas,
 * that failed or were rejected, out of the replica count. Nothing is checked for a failure action
 * `continue`, nor for global services (the scheduler decides their set of slots).
 */
export function updateFailureActionProblem(state: StoreReader, commands: readonly StateCommand[]): CheckProblem | null {
  for (const service of state.services()) {
    const status = service.updateStatus;
    if (status === null || (status.state !== 'updating' && status.state !== 'rolling-back') || service.spec.mode.type !== 'replicated') continue;
    const config = status.state === 'updating' ? service.spec.update : service.spec.rollback;
    const replicas = service.spec.mode.replicas;
    if (config.failureAction === 'continue' || replicas === 0) continue;
    const failed = state.tasksOfService(service.id).filter((t) =>
      t.specVersion === service.specVersion && t.createdAtUs >= status.startedAtUs && t.slot !== null && t.slot >= 1 && t.slot <= replicas &&
      (t.observedState === 'failed' || t.observedState === 'rejected'));
    if (failed.length / replicas <= config.maxFailureRatio) continue;
    const acted = commands.some((c) =>
      (c.type === 'service-rollback' && c.id === service.id) || (c.type === 'service-set-update-status' && c.id === service.id && c.state === 'paused'));
    if (acted) continue;
    const what = status.state === 'updating' ? 'update' : 'rollback';
    const action = status.state === 'updating' && config.failureAction === 'rollback' ? 'roll it back' : 'pause it';
    const created = commands.flatMap((c) => (c.type === 'task-create' ? c.tasks.filter((t) => t.serviceId === service.id) : []));
    const instead = created.length === 0 ? 'no new task' : `${created.length} new task(s) for slot(s) ${created.map((t) => t.slot).join(', ')}`;
    const completes = commands.some((c) => c.type === 'service-set-update-status' && c.id === service.id && c.state !== 'paused');
    return {
      checker: updateFailureActionChecker,
      message: `service ${service.spec.name} (${service.id}): ${failed.length} of ${replicas} tasks of its ${what} to spec version ${service.specVersion} failed ` +
        `(${failed.map((t) => `${t.id} in slot ${t.slot} ${t.observedState}`).join(', ')}), above its max failure ratio ${config.maxFailureRatio}, ` +
        `yet a reconcile pass on that store did not ${action}: it proposed ${instead}${completes ? ' and a new update status' : ''} for the service`,
    };
  }
  return null;
}

function taskPlace(task: Task, service: Service | null): string {
  const name = service === null ? `removed service ${task.serviceId}` : `service ${service.spec.name} (${service.id})`;
  return task.slot === null ? `${name}, global` : `${name}, slot ${task.slot}`;
}

/** The checks for one world run, fresh for each (a check may keep state across its run). */
export function newOrchestrationChecks(): OrchestrationChecks {
  return {
    convergenceProblems,
    updateAvailabilityProblem,
    appliedCommandProblem: drainedAssignmentProblem,
    reconcilePassProblem: updateFailureActionProblem,
  };
}
